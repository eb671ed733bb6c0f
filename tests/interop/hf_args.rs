//! A Hugging Face Trainer's `training_args.bin` (tests/fixtures/recipes_hf/,
//! scripts/fixtures/gen_recipes_hf.py: transformers 5.24's `TrainingArguments`
//! as the Trainer `torch.save`s them): read as a record, its enums as records
//! holding `value`, `torch.device` as a record, each field the schedule reads
//! equal to what `to_dict()` gave in Python; the records' rules refuse every
//! other form in one line; a subclass off the allowlist is refused naming it;
//! mutated files load or are refused in one line, never panic.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tch_lr::interop::{pickle, torch_file, Value};
use tch_lr::recipe::{load, RecipeOptions};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recipes_hf")
}

/// Every `training_args.bin` of the fixtures, with its fields as `to_dict()` gave them.
fn files() -> Vec<(PathBuf, Json)> {
    let mut out = Vec::new();
    let runs = dir().join("runs");
    let mut names: Vec<_> = std::fs::read_dir(&runs).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for run in names {
        let case: Json = serde_json::from_str(&std::fs::read_to_string(run.join("case.json")).unwrap()).unwrap();
        let checkpoint = run.join(case["checkpoint"].as_str().unwrap());
        out.push((checkpoint.join("training_args.bin"), case["fields"].clone()));
        out.push((run.join("training_args.bin"), case["fields"].clone()));
    }
    let args: Json = serde_json::from_str(&std::fs::read_to_string(dir().join("args/args.json")).unwrap()).unwrap();
    for (name, fields) in args.as_object().unwrap() {
        out.push((dir().join(format!("args/{name}.bin")), fields.clone()));
    }
    out
}

/// A record's field as JSON, as `to_dict()` writes it (an enum as its value).
fn json(v: &Value) -> Json {
    match v {
        Value::None => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => Json::from(*f),
        Value::Str(s) => Json::from(s.as_str()),
        Value::Dict(items) => Json::Object(
            items
                .iter()
                .map(|(k, v)| {
                    let Value::Str(k) = k else { panic!("{k:?}") };
                    (k.clone(), json(v))
                })
                .collect(),
        ),
        Value::Object { .. } => json(v.field("value").unwrap_or_else(|| panic!("{v:?}"))),
        v => panic!("{v:?}"),
    }
}

#[test]
fn training_args_is_read_as_a_record() {
    let files = files();
    assert_eq!(files.len(), 6 * 2 + 5);
    for (path, want) in &files {
        let v = torch_file::load(path).unwrap();
        let Value::Object { class, fields } = &v else { panic!("{}: {v:?}", path.display()) };
        assert_eq!(*class, want["class"].as_str().unwrap(), "{}", path.display());
        assert!(fields.len() > 100, "{}: {} fields", path.display(), fields.len());
        for (k, want) in want.as_object().unwrap().iter().filter(|(k, _)| *k != "class") {
            let got = json(v.field(k).unwrap_or_else(|| panic!("{}: no {k}", path.display())));
            assert_eq!(&got, want, "{}: {k}", path.display());
        }
        // The enums and the fields' classes, as records.
        assert_eq!(v.field("lr_scheduler_type").unwrap().type_name(), "transformers.trainer_utils.SchedulerType");
        assert_eq!(v.field("optim").unwrap().type_name(), "transformers.training_args.OptimizerNames");
        assert_eq!(v.field("save_strategy").unwrap().type_name(), "transformers.trainer_utils.SaveStrategy");
        assert_eq!(v.field("hub_strategy").unwrap().type_name(), "transformers.trainer_utils.HubStrategy");
        assert_eq!(v.field("eval_strategy").unwrap().type_name(), "transformers.trainer_utils.IntervalStrategy");
        let accelerator = v.field("accelerator_config").unwrap();
        assert_eq!(accelerator.type_name(), "transformers.trainer_pt_utils.AcceleratorConfig");
        assert_eq!(accelerator.field("split_batches"), Some(&Value::Bool(false)));
        let state = v.field("distributed_state").unwrap();
        assert_eq!(state.type_name(), "accelerate.state.PartialState");
        let kind = state.field("distributed_type").unwrap();
        assert_eq!(kind.type_name(), "accelerate.utils.dataclasses.DistributedType");
        assert_eq!(kind.field("value"), Some(&Value::Str("NO".into())));
        let device = state.field("device").unwrap();
        assert_eq!(device.type_name(), "torch.device");
        assert_eq!(
            (device.field("type"), device.field("index")),
            (Some(&Value::Str("cpu".into())), Some(&Value::None))
        );
    }
    // A CUDA run's device: torch.device('cuda', 0).
    let v = torch_file::load(dir().join("args/cuda_device.bin")).unwrap();
    let device = v.field("_setup_devices").unwrap();
    assert_eq!((device.field("type"), device.field("index")), (Some(&Value::Str("cuda".into())), Some(&Value::Int(0))));
    // Read, never written back.
    let e = torch_file::write(&v).unwrap_err().to_string();
    assert!(e.contains("record is read, never written"), "{e}");
}

/// Hand-made pickles around the enums' and the device's rules.
#[test]
fn enum_and_device_records_follow_their_one_rule() {
    let enum_global = b"\x80\x02ctransformers.trainer_utils\nSchedulerType\n";
    let with = |rest: &[u8]| -> Vec<u8> { [enum_global.as_slice(), rest, b"."].concat() };
    let v = pickle::read(&with(b"X\x06\x00\x00\x00cosine\x85R")).unwrap();
    assert_eq!(
        v,
        Value::Object {
            class: "transformers.trainer_utils.SchedulerType",
            fields: vec![("value".into(), Value::Str("cosine".into()))]
        }
    );
    assert_eq!(pickle::read(&with(b"K\x03\x85R")).unwrap().field("value"), Some(&Value::Int(3)));
    let refused = [
        (with(b"K\x01K\x02\x86R"), "read only as a call with one str or int"),
        (with(b")R"), "read only as a call with one str or int"),
        (with(b"G?\xb9\x99\x99\x99\x99\x99\x9a\x85R"), "read only as a call with one str or int"),
        (with(b")\x81"), "read only as a call of its class"),
        (with(b"K\x01\x85R}b"), "BUILD on a transformers.trainer_utils.SchedulerType"),
    ];
    for (p, want) in refused {
        let e = pickle::read(&p).unwrap_err().to_string();
        assert!(e.contains(want) && !e.contains('\n'), "{want}: {e}");
    }
    let device = |rest: &[u8]| -> Vec<u8> { [b"\x80\x02ctorch\ndevice\n".as_slice(), rest, b"."].concat() };
    let v = pickle::read(&device(b"X\x04\x00\x00\x00cudaK\x01\x86R")).unwrap();
    assert_eq!((v.field("type"), v.field("index")), (Some(&Value::Str("cuda".into())), Some(&Value::Int(1))));
    for rest in [b"K\x01\x85R".as_slice(), b"X\x03\x00\x00\x00cpuG?\xf0\x00\x00\x00\x00\x00\x00\x86R", b")R"] {
        let e = pickle::read(&device(rest)).unwrap_err().to_string();
        assert!(e.contains("torch.device is read only as device(type) or device(type, index)"), "{e}");
    }
    // The arguments' class called instead of NEWOBJ.
    let e = pickle::read(b"\x80\x02ctransformers.training_args\nTrainingArguments\n)R.").unwrap_err().to_string();
    assert!(e.contains("transformers.training_args.TrainingArguments is read as a record only"), "{e}");
}

/// A subclass off the allowlist (TRL's `SFTConfig`, here the real file with
/// its class renamed) is refused in one line naming it.
#[test]
fn a_subclass_off_the_allowlist_is_refused_naming_it() {
    let file = std::fs::read(dir().join("runs/ratio/training_args.bin")).unwrap();
    let mut entries = crate::files::parts(&file);
    let pkl = entries.iter_mut().find(|(n, _)| n.ends_with("data.pkl")).unwrap();
    let from = b"ctransformers.training_args\nTrainingArguments\n";
    let at = pkl.1.windows(from.len()).position(|w| w == from).unwrap();
    pkl.1.splice(at..at + from.len(), b"ctrl.trainer.sft_config\nSFTConfig\n".iter().copied());
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("training_args.bin"), crate::files::zip(&refs, 0)).unwrap();
    let e = load(tmp.path(), &RecipeOptions::default()).unwrap_err().to_string();
    assert!(e.contains("global trl.trainer.sft_config.SFTConfig is not on the allowlist"), "{e}");
    assert!(e.contains("Seq2SeqTrainingArguments") && !e.contains('\n') && e.len() <= 300, "{e}");
}

/// Mutated `training_args.bin` files (their pickles and their bytes): each
/// loads or is refused in one line, never panics.
#[test]
fn fuzz_training_args() {
    let files: Vec<Vec<u8>> = files().iter().map(|(p, _)| std::fs::read(p).unwrap()).collect();
    crate::files::fuzz_read("training_args", 0x7f26_a4b1, &files, |v| {
        matches!(v.field("lr_scheduler_type"), Some(Value::Object { .. }))
    });
}
