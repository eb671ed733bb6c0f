//! timm's `args.yaml` as the config: the `yaml.safe_dump` of every argument
//! timm's `train.py` parsed, read as `train.py` reads it.
//!
//! - The LR: `lr`, or when it is null or 0, `lr_base` times the global batch
//!   (`batch_size * grad_accum_steps * world_size`, a `grad_accum_steps` of 0
//!   counting 1) over `lr_base_size`, linearly or by its square root
//!   (`lr_base_scale`; empty: `sqrt` for an optimizer whose name holds `ada`
//!   or `lamb`).
//! - The schedule: what timm's `create_scheduler_v2(**scheduler_kwargs(args),
//!   updates_per_epoch=U)` builds (`sched`: `cosine`, `tanh`, `step`,
//!   `multistep`, `poly`, `wsd`, `rsqrt`, `constant`, `none`), its lengths in
//!   updates with `sched_on_updates` (then `interval: step`, and U must be
//!   given). `plateau` steps on the eval metric and is refused.
//! - The optimizer: `opt` (`sgd` and `nesterov`: Nesterov SGD, `momentum`:
//!   SGD, `adam`, `adamw`, `rmsprop` with timm's alpha 0.9), `momentum`,
//!   `weight_decay` (timm's two groups: biases and norms without it first),
//!   `opt_eps`, `opt_betas`. Another optimizer is traced on SGD, said in the
//!   found line: the LR does not depend on it.
//!
//! The other keys (the model, the data, augmentation, ...) do not touch the
//! schedule and are not read.

use std::path::Path;

use serde_yaml::{Mapping, Value as Y};

use super::Recipe;
use crate::config::kwargs::closest;
use crate::config::Config;
use crate::error::{Error, Result};

/// Files larger than this are not timm's args (train.py's is ~3 KB).
const MAX_BYTES: u64 = 1 << 20;

/// The names `create_scheduler_v2` takes.
const SCHEDS: &[&str] = &["cosine", "tanh", "step", "multistep", "poly", "wsd", "rsqrt", "constant", "none", "plateau"];

/// The optimizers tch-lr builds as timm does.
const OPTS: &[&str] = &["sgd", "nesterov", "momentum", "adam", "adamw", "rmsprop"];

/// The parsed file at `path` when it is timm's args: a YAML mapping with
/// `sched`, `lr_base` and `model` (what train.py writes), by content.
pub(super) fn args_yaml(path: &Path) -> Option<Mapping> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    match serde_yaml::from_str::<Y>(&text).ok()? {
        Y::Mapping(m) if ["sched", "lr_base", "model"].iter().all(|k| m.contains_key(*k)) => Some(m),
        _ => None,
    }
}

/// The args' keys, typed, each error one line naming the file and the key.
struct Args<'a> {
    file: String,
    map: &'a Mapping,
}

impl Args<'_> {
    fn bad(&self, key: &str, v: &Y, what: &str) -> Error {
        let shown = serde_yaml::to_string(v).unwrap_or_default();
        let shown: String = shown.trim().chars().take(60).collect();
        Error::Unsupported(format!("{}: `{key}` is {shown}, not {what} (as timm's train.py writes it)", self.file))
    }

    fn get(&self, key: &str) -> Option<&Y> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A number (null or absent: `None`).
    fn float(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                v.as_f64().filter(|f| f.is_finite()).map(Some).ok_or_else(|| self.bad(key, v, "a finite number"))
            }
        }
    }

    fn float_or(&self, key: &str, default: f64) -> Result<f64> {
        Ok(self.float(key)?.unwrap_or(default))
    }

    /// An integer (a float with no fraction too, as Python's int() of it).
    fn int(&self, key: &str) -> Result<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e15).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| self.bad(key, v, "an integer")),
        }
    }

    fn int_or(&self, key: &str, default: i64) -> Result<i64> {
        Ok(self.int(key)?.unwrap_or(default))
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| self.bad(key, v, "true or false")),
        }
    }

    fn string(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_str().map(Some).ok_or_else(|| self.bad(key, v, "a string")),
        }
    }

    /// A list of numbers (null or absent: `None`).
    fn floats(&self, key: &str) -> Result<Option<Vec<f64>>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let list = match v {
            Y::Sequence(s) => s.iter().map(|x| x.as_f64().filter(|f| f.is_finite())).collect::<Option<Vec<_>>>(),
            // argparse's nargs='+' writes a list; a bare number is one item.
            x => x.as_f64().filter(|f| f.is_finite()).map(|f| vec![f]),
        };
        list.map(Some).ok_or_else(|| self.bad(key, v, "a list of numbers"))
    }

    fn ints(&self, key: &str, default: &[i64]) -> Result<Vec<i64>> {
        let Some(v) = self.get(key) else { return Ok(default.to_vec()) };
        let list = match v {
            Y::Sequence(s) => s.iter().map(Y::as_i64).collect::<Option<Vec<_>>>(),
            x => x.as_i64().map(|i| vec![i]),
        };
        list.ok_or_else(|| self.bad(key, v, "a list of integers"))
    }
}

/// Python's `a * b` of two ints, refused where it leaves i64.
fn times(file: &str, key: &str, a: i64, b: i64) -> Result<i64> {
    a.checked_mul(b).ok_or_else(|| Error::Unsupported(format!("{file}: `{key}` times {b} updates is too large")))
}

/// The config timm's train.py builds from `map`, the args.yaml at `path`.
pub(super) fn load(path: &Path, map: &Mapping, options: &super::RecipeOptions) -> Result<Recipe> {
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let a = Args { file: path.display().to_string(), map };
    let file = a.file.as_str();

    // The optimizer and the LR, as train.py resolves them.
    let opt = a.string("opt")?.unwrap_or("sgd").to_lowercase();
    let (lr, lr_note) = resolve_lr(&a, &opt, options.world_size)?;
    let (optimizer, opt_note) = optimizer(&a, &opt, lr)?;

    // The schedule, as scheduler_kwargs() and create_scheduler_v2() build it.
    let sched = a.string("sched")?.unwrap_or("cosine");
    let on_updates = a.boolean("sched_on_updates", false)?;
    if sched == "plateau" {
        return Err(Error::Unsupported(format!(
            "{file}: `sched: plateau` (timm's PlateauLRScheduler, deprecated) steps on the eval metric: not \
             supported; write a ReduceLROnPlateau config and trace it with --metrics"
        )));
    }
    if !SCHEDS.contains(&sched) {
        let hint = closest(sched, SCHEDS).first().map(|c| format!("did you mean `{c}`? ")).unwrap_or_default();
        return Err(Error::Unsupported(format!(
            "{file}: `sched` is `{sched}`, not one timm's create_scheduler_v2 builds: {hint}(one of {})",
            SCHEDS.join(", ")
        )));
    }
    let u = match (on_updates, options.updates_per_epoch) {
        (false, _) => 1,
        (true, Some(u)) => i64::try_from(u).map_err(|_| Error::Unsupported("--updates-per-epoch too large".into()))?,
        (true, None) if sched == "none" => 1,
        (true, None) => {
            return Err(Error::Unsupported(format!(
                "{file}: `sched_on_updates: true` steps per optimizer update: give --updates-per-epoch U (train.py's \
                 updates_per_epoch: the loader's batches over grad_accum_steps, rounded up)"
            )))
        }
    };
    let epochs = a.int_or("epochs", 100)?;
    let warmup_epochs = a.int_or("warmup_epochs", 5)?;
    let cooldown_epochs = a.int_or("cooldown_epochs", 0)?;
    // scheduler_kwargs() passes 30 for an absent key; create_scheduler_v2() reads None as 90 (wsd, rsqrt: 0.2).
    let decay_epochs = match (map.get("decay_epochs"), a.float("decay_epochs")?) {
        (None, _) => 30.0,
        (_, Some(d)) => d,
        (_, None) if matches!(sched, "wsd" | "rsqrt") => 0.2,
        (_, None) => 90.0,
    };
    let t_initial = times(file, "epochs", epochs, u)?;
    let warmup_t = times(file, "warmup_epochs", warmup_epochs, u)?;
    let decay_t = decay_epochs * u as f64;
    let warmup_prefix = a.boolean("warmup_prefix", false)?;
    let min_lr = a.float_or("min_lr", 0.0)?;
    let decay_rate = a.float_or("decay_rate", 0.1)?;

    let mut s = Mapping::new();
    let mut put = |k: &str, v: Y| {
        s.insert(k.into(), v);
    };
    let noise_range = a.floats("lr_noise")?.map(|n| {
        let range: Vec<f64> = n.iter().map(|x| x * t_initial as f64).collect();
        if range.len() == 1 {
            Y::from(range[0])
        } else {
            Y::Sequence(range.into_iter().map(Y::from).collect())
        }
    });
    let noise = |put: &mut dyn FnMut(&str, Y)| -> Result<()> {
        put("noise_range_t", noise_range.clone().unwrap_or(Y::Null));
        put("noise_pct", a.float_or("lr_noise_pct", 0.67)?.into());
        put("noise_std", a.float_or("lr_noise_std", 1.0)?.into());
        put("noise_seed", a.int_or("seed", 42)?.into());
        Ok(())
    };
    let cycles = |put: &mut dyn FnMut(&str, Y)| -> Result<()> {
        put("cycle_mul", a.float_or("lr_cycle_mul", 1.0)?.into());
        put("cycle_decay", a.float_or("lr_cycle_decay", 0.1)?.into());
        put("cycle_limit", a.int_or("lr_cycle_limit", 1)?.into());
        Ok(())
    };
    let warmup = |put: &mut dyn FnMut(&str, Y), prefix: bool| -> Result<()> {
        put("warmup_lr_init", a.float_or("warmup_lr", 1e-5)?.into());
        put("warmup_t", warmup_t.into());
        if prefix {
            put("warmup_prefix", warmup_prefix.into());
        }
        Ok(())
    };
    let class = match sched {
        "cosine" | "tanh" | "poly" => {
            put("t_initial", t_initial.into());
            put("lr_min", min_lr.into());
            if sched == "poly" {
                put("power", decay_rate.into());
            }
            cycles(&mut put)?;
            warmup(&mut put, true)?;
            noise(&mut put)?;
            if sched != "tanh" {
                put("k_decay", a.float_or("lr_k_decay", 1.0)?.into());
            }
            match sched {
                "cosine" => "timm.CosineLRScheduler",
                "tanh" => "timm.TanhLRScheduler",
                _ => "timm.PolyLRScheduler",
            }
        }
        "step" | "constant" | "none" => {
            let (t, rate) = if sched == "step" { (decay_t, decay_rate) } else { (1.0, 1.0) };
            put("decay_t", t.into());
            put("decay_rate", rate.into());
            if sched != "none" {
                warmup(&mut put, true)?;
                noise(&mut put)?;
            }
            "timm.StepLRScheduler"
        }
        "multistep" => {
            let milestones = a
                .ints("decay_milestones", &[30, 60])?
                .into_iter()
                .map(|m| times(file, "decay_milestones", m, u).map(Y::from))
                .collect::<Result<Vec<_>>>()?;
            put("decay_t", Y::Sequence(milestones));
            put("decay_rate", decay_rate.into());
            warmup(&mut put, true)?;
            noise(&mut put)?;
            "timm.MultiStepLRScheduler"
        }
        _ => {
            // wsd, rsqrt: the warmup always before; without warmup_prefix the stable and decay phases fit
            // in the epochs after it. The decay: a fraction of them when under 1, rounded half to even.
            let t_sched = if warmup_prefix { t_initial } else { t_initial - warmup_t };
            let decay = if decay_epochs > 0.0 && decay_epochs < 1.0 { decay_epochs * t_sched as f64 } else { decay_t };
            let decay = decay.round_ties_even();
            if !(decay > 0.0 && decay <= t_sched as f64) {
                let less = if warmup_prefix { "" } else { " - warmup_epochs" };
                return Err(Error::Unsupported(format!(
                    "{file}: `sched: {sched}` needs 0 < decay_epochs <= epochs{less} (timm's create_scheduler_v2 \
                     raises ValueError): a decay of {decay} in a stable + decay length of {t_sched}{}",
                    if u > 1 { " updates" } else { " epochs" }
                )));
            }
            put("t_initial", t_sched.into());
            put("decay_t", (decay as i64).into());
            put("lr_min", min_lr.into());
            put("stable_fn", if sched == "rsqrt" { "rsqrt" } else { "constant" }.into());
            let timescale = a.float("lr_stable_timescale")?.map(|t| t * u as f64);
            put("stable_timescale", timescale.map_or(Y::Null, Y::from));
            let default_fn = if sched == "rsqrt" { "linear" } else { "1-sqrt" };
            put("decay_fn", a.string("lr_decay_fn")?.unwrap_or(default_fn).into());
            warmup(&mut put, false)?;
            noise(&mut put)?;
            "timm.WSDLRScheduler"
        }
    };
    s.insert("t_in_epochs".into(), (!on_updates).into());
    s.insert("name".into(), class.into());

    let mut top = Mapping::new();
    top.insert("optimizer".into(), Y::Mapping(optimizer));
    top.insert("scheduler".into(), Y::Mapping(s));
    top.insert("interval".into(), if on_updates { "step" } else { "epoch" }.into());
    let config = Config::from_value(Y::Mapping(top)).map_err(|e| e.context(format!("{file}: as timm builds it")))?;

    let cyclic = matches!(sched, "cosine" | "tanh" | "poly");
    let mut length = format!("{epochs} epochs");
    if warmup_prefix && warmup_epochs > 0 && !matches!(sched, "none") {
        length = format!("{warmup_epochs} warmup + {length}");
    }
    if cyclic && cooldown_epochs > 0 {
        length.push_str(&format!(" + {cooldown_epochs} cooldown"));
    }
    let clock = if on_updates { format!(", stepped per update ({u} an epoch)") } else { String::new() };
    let what = match sched {
        "none" => "no schedule (sched: none)".to_string(),
        "constant" | "rsqrt" => format!("{class} (sched: {sched})"),
        _ => class.to_string(),
    };
    let found = format!("{what}, lr {lr}{lr_note}, {length}{clock}, from {name}{opt_note}");
    Ok(Recipe { kind: super::RecipeKind::Timm, config, resume_from: None, found: Some(found) })
}

/// train.py's LR: `lr`, or from `lr_base` and the global batch; the
/// explanation for the found line.
fn resolve_lr(a: &Args<'_>, opt: &str, world_size: Option<u64>) -> Result<(f64, String)> {
    if let Some(lr) = a.float("lr")?.filter(|&lr| lr != 0.0) {
        return Ok((lr, String::new()));
    }
    let file = a.file.as_str();
    let need = |key: &str| Error::Unsupported(format!("{file}: `lr` is null and `{key}` is missing: no LR to resolve"));
    let lr_base = a.float("lr_base")?.ok_or_else(|| need("lr_base"))?;
    let base_size = a.float("lr_base_size")?.ok_or_else(|| need("lr_base_size"))?;
    let batch = a.int("batch_size")?.ok_or_else(|| need("batch_size"))?;
    let accum = a.int_or("grad_accum_steps", 1)?.max(1);
    let world = i64::try_from(world_size.unwrap_or(1)).unwrap_or(i64::MAX);
    if batch <= 0 || base_size == 0.0 {
        return Err(Error::Unsupported(format!(
            "{file}: `lr` is null and `batch_size` {batch} over `lr_base_size` {base_size} gives no LR"
        )));
    }
    let global = batch.saturating_mul(accum).saturating_mul(world);
    let mut ratio = global as f64 / base_size;
    let scale = match a.string("lr_base_scale")?.unwrap_or("") {
        "" if opt.contains("ada") || opt.contains("lamb") => "sqrt",
        "" => "linear",
        "sqrt" => "sqrt",
        // train.py scales by the square root for `sqrt` only.
        _ => "linear",
    };
    if scale == "sqrt" {
        ratio = ratio.powf(0.5);
    }
    let world_note = if world_size.is_none() { "; world size 1: --world-size W for W processes" } else { "" };
    Ok((lr_base * ratio, format!(" (lr_base {lr_base} x {global}/{base_size}, {scale}{world_note})")))
}

/// The `optimizer:` section timm's `create_optimizer_v2` makes from the
/// args, and a note for an optimizer tch-lr does not build.
fn optimizer(a: &Args<'_>, opt: &str, lr: f64) -> Result<(Mapping, String)> {
    // timm reads the last `_` part (`lookahead_adamw`: AdamW in Lookahead, which keeps the LR).
    let kind = opt.rsplit('_').next().unwrap_or(opt);
    let wd = a.float_or("weight_decay", 2e-5)?;
    let mut o = Mapping::new();
    let mut note = String::new();
    let name = match kind {
        "sgd" | "nesterov" | "momentum" => "sgd",
        "adam" | "adamw" | "rmsprop" => kind,
        _ => {
            let hint = closest(kind, OPTS).first().map(|c| format!(", did you mean `{c}`?")).unwrap_or_default();
            note = format!(
                "; `opt: {opt}` is not one tch-lr builds ({}{hint}): traced on SGD, the LR does not depend on it",
                OPTS.join(", ")
            );
            "sgd"
        }
    };
    o.insert("name".into(), name.into());
    o.insert("lr".into(), lr.into());
    // timm's groups: biases and norms without weight decay, then the rest (one group without weight decay).
    if wd != 0.0 {
        o.insert("groups".into(), 2.into());
        o.insert("weight_decay".into(), Y::Sequence(vec![0.0.into(), wd.into()]));
    } else {
        o.insert("weight_decay".into(), 0.0.into());
    }
    if !note.is_empty() {
        return Ok((o, note));
    }
    let momentum = a.float_or("momentum", 0.9)?;
    match kind {
        "sgd" | "nesterov" | "momentum" => {
            o.insert("momentum".into(), momentum.into());
            o.insert("nesterov".into(), (kind != "momentum").into());
        }
        "rmsprop" => {
            o.insert("momentum".into(), momentum.into());
            o.insert("alpha".into(), 0.9.into());
        }
        _ => {}
    }
    if name != "sgd"
        && let Some(eps) = a.float("opt_eps")?
    {
        o.insert("eps".into(), eps.into());
    }
    if (name == "adam" || name == "adamw")
        && let Some(b) = a.floats("opt_betas")?
    {
        let [b1, b2] = b[..] else {
            return Err(Error::Unsupported(format!("{}: `opt_betas` lists {} numbers, not 2", a.file, b.len())));
        };
        o.insert("betas".into(), Y::Sequence(vec![b1.into(), b2.into()]));
    }
    if a.get("layer_decay").is_some() {
        note = "; `layer_decay` is not modelled (timm's per-layer lr_scale): the LR is the unscaled groups'".into();
    }
    Ok((o, note))
}
