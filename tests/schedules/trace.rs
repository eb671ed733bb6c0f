//! What `tch-lr trace` computes, in this process: every case of
//! `tests/fixtures/cli/expected.json` (`scripts/fixtures/gen_config.py`:
//! each file in `configs/` and the generated configs, traced by PyTorch 2.13
//! with `torch.optim.lr_scheduler` on an SGD or Adam optimizer), read as the
//! program reads it (`tch_lr::recipe::load`) and traced by
//! `tch_lr::trace::trace_with`, with and without a checkpoint half-way
//! (`--checkpoint-at`). `tests/end_to_end/cli.rs` runs the program itself on
//! the files in `configs/` and on the cases where PyTorch raises.

use crate::common;

use common::*;
use tch_lr::recipe::{self, RecipeOptions};
use tch_lr::trace::{trace_with, TraceOptions};

/// The rows a trace produced (LR, momentum, weight decay), and its error's message.
type Rows = (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<Vec<f64>>, Option<String>);

fn run(case: &CliCase, checkpoint_at: Option<usize>) -> Result<Rows, String> {
    let name = &case.config;
    let recipe = recipe::load(&root().join(name), &RecipeOptions::default()).map_err(|e| format!("{name}: {e}"))?;
    let metrics = case.metrics.as_ref().map(|m| {
        let text = std::fs::read_to_string(root().join(m)).unwrap_or_else(|e| panic!("{m}: {e}"));
        text.split_whitespace().map(|v| v.parse::<f64>().unwrap_or_else(|e| panic!("{m}: {v}: {e}"))).collect()
    });
    let opts = TraceOptions { rows: case.steps, metrics, checkpoint_at, ..Default::default() };
    let (mut lr, mut momentum, mut weight_decay) = (vec![], vec![], vec![]);
    let result = trace_with(&recipe.config, &opts, |r| {
        lr.push(r.lr.to_vec());
        momentum.push(r.momentum.to_vec());
        weight_decay.push(r.weight_decay.to_vec());
    });
    Ok((lr, momentum, weight_decay, result.err().map(|e| e.to_string())))
}

/// One case against PyTorch; a description of the first difference.
fn check(case: &CliCase) -> Result<(), String> {
    let name = &case.config;
    let (lr, momentum, weight_decay, error) = run(case, None)?;
    match (&case.error, &error) {
        (None, Some(e)) => return Err(format!("{name}: failed: {e}")),
        (Some(want), None) => return Err(format!("{name}: PyTorch raises {:?} at row {}", want.message, want.row)),
        (Some(want), Some(got)) if !got.contains(&want.message) => {
            return Err(format!("{name}: PyTorch raises {:?}; tch-lr: {got}", want.message))
        }
        _ => {}
    }
    let got = [(&lr, "lr", &case.lr), (&momentum, "momentum", &case.momentum)];
    let wd = case.weight_decay.as_ref().map(|want| (&weight_decay, "weight_decay", want));
    for (got, what, want) in got.into_iter().chain(wd) {
        same_rows(name, what, got, want)?;
    }
    if case.steps > 2 {
        let k = case.steps / 2;
        let resumed = run(case, Some(k))?;
        if resumed != (lr, momentum, weight_decay, error) {
            return Err(format!("{name}: a checkpoint after row {k} changes the rows or the error"));
        }
    }
    Ok(())
}

/// `tch-lr trace CONFIG --steps N [--metrics FILE] [--checkpoint-at N/2]` for
/// every case, as `scheduler.step()` on PyTorch's optimizer gives it (1e-9
/// relative), PyTorch's message where it raises, and the same rows and error
/// through a checkpoint.
#[test]
fn every_config_traces_like_pytorch_with_and_without_checkpoint() {
    let cases = cli_cases();
    assert!(cases.len() >= 200, "{} cases", cases.len());
    assert!(cases.iter().filter(|c| c.error.is_some()).count() >= 5);
    assert!(cases.iter().filter(|c| c.metrics.is_some()).count() >= 5);
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c).err()).collect();
    assert!(failures.is_empty(), "{} of {} configs differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
