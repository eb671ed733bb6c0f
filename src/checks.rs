//! PyTorch's optimizer constructor checks (`torch.optim.SGD`, `Adam`, `AdamW`,
//! `RMSprop` in PyTorch 2.13), with PyTorch's messages, and the finiteness
//! tch-lr demands of every hyper-parameter on top. A config's `optimizer:`
//! section and [`Optim::new`](crate::Optim::new) both run them, so nothing
//! libtorch would reject (or silently take as NaN) reaches it.

use crate::groups::OptimizerKind;
use crate::schedulers::py_float;

/// The hyper-parameters of one optimizer that PyTorch's constructor checks.
/// Fields an optimizer does not have keep their neutral defaults.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hyper {
    pub kind: OptimizerKind,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub betas: [f64; 2],
    pub eps: f64,
    pub weight_decay: f64,
    pub alpha: f64,
}

impl Hyper {
    /// An optimizer of `kind` with PyTorch's defaults.
    pub fn new(kind: OptimizerKind) -> Self {
        Hyper {
            kind,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            alpha: 0.99,
        }
    }
}

/// The first problem PyTorch's constructor would raise for these LRs and
/// hyper-parameters, with PyTorch's message and in PyTorch's order (its
/// comparisons as Python evaluates them: `lr < 0.0` lets NaN through where
/// `not 0.0 <= lr` does not), then any NaN or infinity PyTorch lets through,
/// as the offending key and the message. Every group's LR is checked, where
/// PyTorch checks the default (first) LR only.
pub(crate) fn check(h: &Hyper, lrs: &[f64]) -> Result<(), (&'static str, String)> {
    use OptimizerKind::*;
    let invalid = |key, what: &str, v: f64| Err((key, format!("Invalid {what}: {}", py_float(v))));
    // Python's `v < 0.0` and `not 0.0 <= v`.
    let below = |v: f64| v < 0.0;
    let not_at_least = |v: f64| v.partial_cmp(&0.0).is_none_or(|o| o.is_lt());
    let lr_rejected = |lr: f64| if h.kind == Sgd { below(lr) } else { not_at_least(lr) };
    if let Some(&lr) = lrs.iter().find(|&&lr| lr_rejected(lr)) {
        return invalid("lr", "learning rate", lr);
    }
    match h.kind {
        Sgd => {
            if below(h.momentum) {
                return invalid("momentum", "momentum value", h.momentum);
            }
            if below(h.weight_decay) {
                return invalid("weight_decay", "weight_decay value", h.weight_decay);
            }
            if h.nesterov && (h.momentum <= 0.0 || h.dampening != 0.0) {
                return Err(("nesterov", "Nesterov momentum requires a momentum and zero dampening".into()));
            }
        }
        Adam | AdamW => {
            if not_at_least(h.eps) {
                return invalid("eps", "epsilon value", h.eps);
            }
            for (i, &b) in h.betas.iter().enumerate() {
                if !(0.0..1.0).contains(&b) {
                    return Err(("betas", format!("Invalid beta parameter at index {i}: {}", py_float(b))));
                }
            }
            if not_at_least(h.weight_decay) {
                return invalid("weight_decay", "weight_decay value", h.weight_decay);
            }
        }
        RmsProp => {
            for (key, what, v) in [
                ("eps", "epsilon value", h.eps),
                ("momentum", "momentum value", h.momentum),
                ("weight_decay", "weight_decay value", h.weight_decay),
                ("alpha", "alpha value", h.alpha),
            ] {
                if not_at_least(v) {
                    return invalid(key, what, v);
                }
            }
        }
    }
    let used: &[(&'static str, f64)] = match h.kind {
        Sgd => &[("momentum", h.momentum), ("dampening", h.dampening), ("weight_decay", h.weight_decay)],
        Adam | AdamW => {
            &[("betas", h.betas[0]), ("betas", h.betas[1]), ("eps", h.eps), ("weight_decay", h.weight_decay)]
        }
        RmsProp => &[("momentum", h.momentum), ("eps", h.eps), ("weight_decay", h.weight_decay), ("alpha", h.alpha)],
    };
    let lrs = lrs.iter().map(|&lr| ("lr", lr));
    match lrs.chain(used.iter().copied()).find(|(_, v)| !v.is_finite()) {
        Some((key, v)) => Err((key, format!("{key} must be a finite number, got {}", py_float(v)))),
        None => Ok(()),
    }
}
