//! DeepSpeed's JSON config, as users write it: its `"optimizer"` and
//! `"scheduler"` blocks (`{"type": ..., "params": {...}}`) read as tch-lr's
//! sections, the rest of the file (batch sizes, ZeRO, fp16, ...) left alone.
//!
//! What DeepSpeed 0.19.8's engine builds from them, and so what they mean here:
//! - `"scheduler"`: `type` one of DeepSpeed's five (`WarmupLR` is
//!   `deepspeed.WarmupLR`), else a `torch.optim.lr_scheduler` class, which
//!   DeepSpeed falls back to (`CosineAnnealingLR`); called with `**params`,
//!   so `params` must be there. It steps once per optimizer step
//!   (`interval: step`).
//! - `"optimizer"`: `Adam` and `AdamW` (any case) are DeepSpeed's: AdamW
//!   unless `"adam_w_mode": false` with `Adam`; its FusedAdam's weight decay
//!   defaults to 0 (`"torch_adam": true`: torch's, AdamW's 0.01). Any other
//!   `type` is `torch.optim`'s class of that exact name (`SGD`, `RMSprop`).
//! - `"auto"`, which the Hugging Face integration fills in from the
//!   Trainer's arguments, is refused, naming each such key and the flag that
//!   fills it.
//!
//! Errors name the key in the file's own terms (`scheduler.params.warmup_num_steps`)
//! and place it (JSON is YAML: the reader finds the line).

use serde_yaml::{Mapping, Value};

use super::kwargs::{kind, Diag, Seg};
use crate::schedulers::REGISTRY;

/// DeepSpeed's schedules, as its `"type"` names them.
const DEEPSPEED: [&str; 5] = ["LRRangeTest", "OneCycle", "WarmupLR", "WarmupDecayLR", "WarmupCosineLR"];

/// The names DeepSpeed lowercases and builds itself (`DEEPSPEED_OPTIMIZERS`).
const DEEPSPEED_OPTIMIZERS: [&str; 9] =
    ["adagrad", "adam", "adamw", "lamb", "muadam", "muadamw", "musgd", "lion", "muon"];

/// Whether `v` is a DeepSpeed config: its `scheduler` or `optimizer` block
/// names its class with `type` (tch-lr's sections use `name`).
pub(crate) fn is_deepspeed(v: &Value) -> bool {
    ["scheduler", "optimizer"].iter().any(|k| {
        v.get(k).and_then(Value::as_mapping).is_some_and(|m| m.contains_key("type") && !m.contains_key("name"))
    })
}

fn key(k: &str) -> Seg {
    Seg::Key(k.into())
}

fn at(path: &[&str], message: impl Into<String>) -> Diag {
    Diag { path: path.iter().map(|k| key(k)).collect(), message: message.into() }
}

/// The Hugging Face Trainer's argument that fills `block.params.key` in
/// (its `trainer_config_process` and `trainer_config_finalize`).
fn trainer_flag(block: &str, k: &str) -> &'static str {
    match (block, k) {
        ("optimizer", "lr") | ("scheduler", "warmup_max_lr") => "--learning_rate",
        ("optimizer", "betas") => "--adam_beta1, --adam_beta2",
        ("optimizer", "eps") => "--adam_epsilon",
        ("optimizer", "weight_decay") => "--weight_decay",
        ("scheduler", "warmup_min_lr") => "0, not a flag",
        ("scheduler", "warmup_num_steps") => "--warmup_steps or --warmup_ratio",
        ("scheduler", "total_num_steps") => "--max_steps, or epochs x batches",
        _ => "no Trainer flag",
    }
}

/// Refuses every `"auto"` in the blocks tch-lr reads, in one line naming
/// each key and the flag that fills it, placed at the first.
fn refuse_auto(v: &Value) -> Result<(), Diag> {
    let mut found: Vec<(Vec<Seg>, String)> = Vec::new();
    for block in ["optimizer", "scheduler"] {
        let Some(params) = v.get(block).and_then(|b| b.get("params")).and_then(Value::as_mapping) else { continue };
        for (k, value) in params {
            let Some(k) = k.as_str() else { continue };
            if holds_auto(value) {
                let path = vec![key(block), key("params"), key(k)];
                found.push((path, format!("{block}.params.{k} ({})", trainer_flag(block, k))));
            }
        }
    }
    let Some((path, _)) = found.first() else { return Ok(()) };
    let mut message = String::from("\"auto\" is for the Hugging Face Trainer to fill in: write the values of ");
    for (i, (_, what)) in found.iter().enumerate() {
        let more = format!(" and {} more", found.len() - i);
        if message.len() + what.len() + more.len() + 2 > 300 {
            message.push_str(&more);
            break;
        }
        message.push_str(if i == 0 { "" } else { ", " });
        message.push_str(what);
    }
    Err(Diag { path: path.clone(), message })
}

fn holds_auto(v: &Value) -> bool {
    match v {
        Value::String(s) => s == "auto",
        Value::Sequence(items) => items.iter().any(holds_auto),
        _ => false,
    }
}

/// The block `name` (`{"type": ..., "params": {...}}`): its type and params.
fn block<'a>(v: &'a Value, name: &str) -> Result<Option<(&'a str, Option<&'a Mapping>)>, Diag> {
    let Some(b) = v.get(name) else { return Ok(None) };
    let Some(m) = b.as_mapping() else {
        return Err(at(
            &[name],
            format!("expected a mapping {{\"type\": ..., \"params\": {{...}}}}, found {}", kind(b)),
        ));
    };
    let ty = match m.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(at(&[name, "type"], format!("expected a class name, found {}", kind(other)))),
        None => return Err(at(&[name], "missing key `type`: the class, such as \"WarmupLR\"")),
    };
    if let Some(k) = m.keys().find(|k| !matches!(k.as_str(), Some("type" | "params"))) {
        let k = k.as_str().unwrap_or("?");
        return Err(at(&[name, k], format!("DeepSpeed's `{name}` block takes `type` and `params`, not `{k}`")));
    }
    let params = match m.get("params") {
        None | Some(Value::Null) => None,
        Some(Value::Mapping(p)) => Some(p),
        Some(other) => return Err(at(&[name, "params"], format!("expected a mapping, found {}", kind(other)))),
    };
    Ok(Some((ty, params)))
}

/// The tch-lr `scheduler:` section of DeepSpeed's `"scheduler"` block.
fn scheduler(ty: &str, params: Option<&Mapping>) -> Result<Value, Diag> {
    let name = if DEEPSPEED.contains(&ty) {
        format!("deepspeed.{ty}")
    } else if REGISTRY.iter().any(|s| s.name == ty && torch_lr_scheduler(s.name)) {
        ty.to_string()
    } else {
        return Err(at(
            &["scheduler", "type"],
            format!(
                "DeepSpeed does not recognize LR scheduler {ty}: not one of DeepSpeed's ({}) nor a \
                 torch.optim.lr_scheduler class",
                DEEPSPEED.join(", ")
            ),
        ));
    };
    let Some(params) = params else {
        return Err(at(
            &["scheduler"],
            format!("missing key `params`: DeepSpeed calls {ty}(optimizer, **params) (`{{}}` for none)"),
        ));
    };
    let mut out = Mapping::new();
    out.insert("name".into(), name.into());
    out.extend(params.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(Value::Mapping(out))
}

/// Whether a registered name is a class of `torch.optim.lr_scheduler` (what
/// DeepSpeed falls back to): PyTorch's, less `torch.optim.swa_utils`'.
fn torch_lr_scheduler(name: &str) -> bool {
    !name.contains('.') && !matches!(name, "SWA" | "SWALR")
}

/// The tch-lr `optimizer:` section of DeepSpeed's `"optimizer"` block.
fn optimizer(ty: &str, params: Option<&Mapping>) -> Result<Value, Diag> {
    let mut params = params.cloned().unwrap_or_default();
    let lower = ty.to_lowercase();
    let name = if DEEPSPEED_OPTIMIZERS.contains(&lower.as_str()) {
        if !matches!(lower.as_str(), "adam" | "adamw") {
            return Err(at(
                &["optimizer", "type"],
                format!("{ty} is DeepSpeed's own optimizer: tch-lr builds Adam, AdamW, SGD and RMSprop"),
            ));
        }
        if params.remove("max_grad_norm").is_some() {
            return Err(at(
                &["optimizer", "params", "max_grad_norm"],
                "'max_grad_norm' is not supported as an optimizer parameter, please switch to using the deepspeed \
                 parameter 'gradient_clipping'",
            ));
        }
        let adam_w_mode = match params.remove("adam_w_mode") {
            None => true,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                return Err(at(
                    &["optimizer", "params", "adam_w_mode"],
                    format!("expected a bool, found {}", kind(&other)),
                ))
            }
        };
        let torch_adam = matches!(params.remove("torch_adam"), Some(Value::Bool(true)));
        params.remove("fp32_optimizer_states");
        params.remove("foreach");
        if !torch_adam {
            // FusedAdam (CPUAdam with ZeRO-Offload): its own defaults and options.
            if let Some(b) = params.remove("bias_correction").filter(|b| *b != Value::Bool(true)) {
                return Err(at(
                    &["optimizer", "params", "bias_correction"],
                    format!("is {}: tch-lr's Adam always corrects the bias (torch.optim's)", kind(&b)),
                ));
            }
            params.remove("set_grad_none");
            if matches!(params.get("amsgrad"), Some(Value::Bool(true))) {
                return Err(at(&["optimizer", "params", "amsgrad"], "FusedAdam does not support the AMSGrad variant."));
            }
            params.entry("weight_decay".into()).or_insert(Value::from(0.0));
        }
        if lower == "adamw" || adam_w_mode {
            "adamw"
        } else {
            "adam"
        }
    } else {
        match ty {
            "SGD" => "sgd",
            "RMSprop" => "rmsprop",
            "Adam" | "AdamW" => unreachable!("lowercased above"),
            _ => {
                return Err(at(
                    &["optimizer", "type"],
                    format!("{ty}: tch-lr builds Adam, AdamW (DeepSpeed's), SGD and RMSprop (torch.optim's)"),
                ))
            }
        }
    };
    let mut out = Mapping::new();
    out.insert("name".into(), name.into());
    out.insert("lr".into(), params.remove("lr").unwrap_or(Value::from(1e-3)));
    out.extend(params);
    Ok(Value::Mapping(out))
}

/// DeepSpeed's config `v` as tch-lr's config value, or the problem in the
/// file's terms.
pub(crate) fn translate(v: &Value) -> Result<Value, Diag> {
    if !v.is_mapping() {
        return Err(Diag::new(format!("a DeepSpeed config is a JSON object, found {}", kind(v))));
    }
    refuse_auto(v)?;
    let Some((ty, params)) = block(v, "scheduler")? else {
        return Err(Diag::new(
            "a DeepSpeed config without a `scheduler` block: tch-lr needs {\"type\": ..., \"params\": {...}}",
        ));
    };
    let mut out = Mapping::new();
    if let Some((oty, oparams)) = block(v, "optimizer")? {
        out.insert("optimizer".into(), optimizer(oty, oparams)?);
    }
    out.insert("scheduler".into(), scheduler(ty, params)?);
    out.insert("interval".into(), "step".into());
    Ok(Value::Mapping(out))
}

/// A path in the translated config as the DeepSpeed file has it:
/// `scheduler.name` is `scheduler.type`, `scheduler.X` is `scheduler.params.X`
/// (likewise `optimizer`).
pub(crate) fn file_path(path: &[Seg]) -> Vec<Seg> {
    match path {
        [Seg::Key(b), Seg::Key(n), ..] if (b == "scheduler" || b == "optimizer") && n == "name" => {
            vec![key(b), key("type")]
        }
        [Seg::Key(b), Seg::Key(k), rest @ ..] if b == "scheduler" || b == "optimizer" => {
            [vec![key(b), key("params"), key(k)], rest.to_vec()].concat()
        }
        _ => path.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn blocks_become_sections() {
        let v = y(r#"{"train_batch_size": 8, "optimizer": {"type": "AdamW", "params": {"lr": 3e-4}},
                      "scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 10}}}"#);
        assert!(is_deepspeed(&v));
        let t = translate(&v).unwrap();
        assert_eq!(t["optimizer"]["name"], "adamw");
        assert_eq!(t["optimizer"]["weight_decay"], 0.0, "FusedAdam's default");
        assert_eq!(t["scheduler"]["name"], "deepspeed.WarmupLR");
        assert_eq!(t["interval"], "step");
        let v = y(r#"{"optimizer": {"type": "Adam", "params": {"adam_w_mode": false, "torch_adam": true}},
                      "scheduler": {"type": "StepLR", "params": {"step_size": 3}}}"#);
        let t = translate(&v).unwrap();
        assert_eq!((t["optimizer"]["name"].as_str(), t["optimizer"].get("weight_decay")), (Some("adam"), None));
        assert_eq!(t["scheduler"]["name"], "StepLR");
        assert!(!is_deepspeed(&y("{scheduler: {name: StepLR, step_size: 3}}")));
    }

    #[test]
    fn refusals_name_the_key() {
        let e = translate(&y(r#"{"scheduler": {"type": "SWALR", "params": {}}}"#)).unwrap_err();
        assert_eq!(e.dotted(), "scheduler.type");
        assert!(e.message.starts_with("DeepSpeed does not recognize LR scheduler SWALR"), "{}", e.message);
        let e = translate(&y(r#"{"scheduler": {"type": "WarmupLR"}}"#)).unwrap_err();
        assert!(e.message.contains("**params"), "{}", e.message);
        let e = translate(&y(r#"{"optimizer": {"type": "Lamb"}, "scheduler": {"type": "WarmupLR", "params": {}}}"#));
        assert_eq!(e.unwrap_err().dotted(), "optimizer.type");
        let auto = r#"{"optimizer": {"type": "AdamW", "params": {"lr": "auto", "betas": "auto"}},
                       "scheduler": {"type": "WarmupDecayLR", "params": {"total_num_steps": "auto",
                       "warmup_max_lr": "auto", "warmup_num_steps": "auto", "warmup_min_lr": "auto"}}}"#;
        let e = translate(&y(auto)).unwrap_err();
        assert_eq!(e.dotted(), "optimizer.params.lr");
        for part in ["optimizer.params.lr (--learning_rate)", "scheduler.params.total_num_steps (--max_steps"] {
            assert!(e.message.contains(part), "{}", e.message);
        }
        assert!(e.message.len() <= 300, "{}", e.message);
        assert_eq!(
            file_path(&[key("scheduler"), key("warmup_max_lr"), Seg::Index(1)]),
            [key("scheduler"), key("params"), key("warmup_max_lr"), Seg::Index(1)]
        );
    }
}
