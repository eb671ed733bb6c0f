//! Megatron-LM checkpoints (`iter_XXXXXXX/mp_rank_00/model_optim_rng.pt`,
//! tests/fixtures/megatron/, written by scripts/fixtures/gen_megatron.py with
//! the keys Megatron-LM's `generate_state_dict` writes): tch-lr continues
//! each run as megatron-core's own class does after `load_state_dict`, from
//! the file, its `iter_` folder or the save folder; `args`, an
//! `argparse.Namespace`, is read as a record and never constructed; a class
//! off the allowlist is refused in one line; mutated record-bearing pickles
//! load or are refused in one line, never panic.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tch_lr::config::Config;
use tch_lr::interop::{megatron, pickle, torch_file, Value};
use tch_lr::trace::{trace, TraceOptions};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/megatron")
}

fn meta() -> Json {
    serde_json::from_str(&std::fs::read_to_string(dir().join("checkpoints.json")).unwrap()).unwrap()
}

/// Each checkpoint, from the file, its `iter_` folder and its save folder:
/// the rows megatron-core's class gives after loading it, bit for bit.
#[test]
fn megatron_lm_checkpoints_continue_as_megatron_continues_them() {
    let meta = meta();
    let checkpoints = meta["checkpoints"].as_array().unwrap();
    assert!(checkpoints.len() >= 2);
    for c in checkpoints {
        let name = c["name"].as_str().unwrap();
        let cfg = Config::from_yaml(&c["config"].to_string()).unwrap();
        let file = dir().join(c["file"].as_str().unwrap());
        let iter_dir = file.parent().unwrap().parent().unwrap().to_path_buf();
        let iteration = c["iteration"].as_u64().unwrap() as usize;
        let want_lr = c["rows"]["lr"].as_array().unwrap();
        for path in [file.clone(), iter_dir, dir().join(name)] {
            assert!(megatron::is_checkpoint(&path), "{}", path.display());
            let opts =
                TraceOptions { rows: iteration + want_lr.len(), resume_from: Some(path.clone()), ..Default::default() };
            let t = trace(&cfg, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(t.notes[0].contains(&format!("iteration {iteration}")), "{:?}", t.notes);
            assert!(t.schedules_weight_decay);
            for (what, got, want) in
                [("lr", &t.lr, &c["rows"]["lr"]), ("weight_decay", &t.weight_decay, &c["rows"]["weight_decay"])]
            {
                let want = want.as_array().unwrap();
                assert_eq!(got.len(), want.len(), "{name}: {what}");
                for (row, (g, w)) in got.iter().zip(want).enumerate() {
                    let w: Vec<f64> = w.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(g), bits(&w), "{name} from {}: {what} row {row}: {g:?} != {w:?}", path.display());
                }
            }
        }
    }
}

/// `args` is Megatron-LM's `argparse.Namespace`, read as a record: its
/// class and attributes, by Megatron-LM's argument names; the weights are
/// tensor records whose bytes stay on disk.
#[test]
fn args_is_read_as_a_record() {
    let c = &meta()["checkpoints"][0];
    let v = torch_file::load(dir().join(c["file"].as_str().unwrap())).unwrap();
    let args = v.get("args").unwrap();
    let Value::Object { class, fields } = args else { panic!("{args:?}") };
    assert_eq!(*class, "argparse.Namespace");
    assert_eq!(args.type_name(), "argparse.Namespace");
    assert_eq!(args.field("global_batch_size"), Some(&Value::Int(256)));
    assert_eq!(args.field("lr_decay_style"), Some(&Value::Str("cosine".into())));
    assert!(fields.iter().any(|(k, _)| k == "use_checkpoint_opt_param_scheduler"));
    assert_eq!(v.get("iteration"), Some(&Value::Int(c["iteration"].as_i64().unwrap())));
    for key in ["checkpoint_version", "model", "optimizer", "opt_param_scheduler", "rng_state"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    assert!(v.get("num_floating_point_operations_so_far").is_some());
    // NumPy's random state: ('MT19937', an array of 624 uint32, pos, has_gauss, cached_gaussian).
    let Some(Value::List(rng)) = v.get("rng_state") else { panic!("rng_state") };
    let Some(Value::Tuple(np)) = rng[0].get("np_rng_state") else { panic!("np_rng_state") };
    let keys = &np[1];
    assert_eq!(keys.type_name(), "numpy.ndarray");
    assert_eq!(keys.field("dtype"), Some(&Value::Str("<u4".into())));
    assert_eq!(keys.field("shape"), Some(&Value::Tuple(vec![Value::Int(624)])));
    assert!(matches!(keys.field("data"), Some(Value::Bytes(b)) if b.len() == 624 * 4));
    // Read, never written back.
    let e = torch_file::write(&v).unwrap_err().to_string();
    assert!(e.contains("argparse.Namespace record is read, never written"), "{e}");
}

/// A pickled class that is not on the allowlist, in one line naming it.
#[test]
fn a_class_off_the_allowlist_is_refused_in_one_line() {
    let meta = meta();
    let path = dir().join(meta["not_allowlisted"]["file"].as_str().unwrap());
    let e = megatron::load(&path).unwrap_err().to_string();
    assert!(e.contains("global types.SimpleNamespace is not on the allowlist") && !e.contains('\n'), "{e}");
    assert!(e.contains("argparse.Namespace"), "the refusal lists what is allowed: {e}");
}

/// Hand-made pickles around the record's rule: NEWOBJ with no arguments,
/// one BUILD with a dict of str keys.
#[test]
fn records_follow_their_one_rule() {
    // PROTO 2, GLOBAL 'argparse Namespace', EMPTY_TUPLE, NEWOBJ, then the rest, STOP.
    let pkl = |rest: &[u8]| -> Vec<u8> {
        let mut p = b"\x80\x02cargparse\nNamespace\n)\x81".to_vec();
        p.extend_from_slice(rest);
        p.push(b'.');
        p
    };
    let ok = pickle::read(&pkl(b"}X\x02\x00\x00\x00lrG?\xb9\x99\x99\x99\x99\x99\x9asb")).unwrap();
    assert_eq!(ok, Value::Object { class: "argparse.Namespace", fields: vec![("lr".into(), Value::Float(0.1))] });
    assert_eq!(pickle::read(&pkl(b"")).unwrap(), Value::Object { class: "argparse.Namespace", fields: vec![] });
    let refused = [
        // A second BUILD.
        (pkl(b"}b}b"), "a second dict"),
        // A key that is not a str.
        (pkl(b"}K\x01K\x02sb"), "keys that are not str"),
        // A state that is not a dict.
        (pkl(b"K\x01b"), "not a dict"),
    ];
    for (p, want) in refused {
        let e = pickle::read(&p).unwrap_err().to_string();
        assert!(e.contains(want) && !e.contains('\n'), "{want}: {e}");
    }
    // NEWOBJ with arguments, and the class called with REDUCE.
    let e = pickle::read(b"\x80\x02cargparse\nNamespace\nK\x01\x85\x81.").unwrap_err().to_string();
    assert!(e.contains("read as a record only"), "{e}");
    let e = pickle::read(b"\x80\x02cargparse\nNamespace\n)R.").unwrap_err().to_string();
    assert!(e.contains("read as a record only"), "{e}");
    // NumPy's array: the class called, an array of Python objects, data of another size, an unfilled array.
    let array = |state: &[u8]| -> Vec<u8> {
        let mut p = b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85X\x01\x00\x00\x00b\x87R"
            .to_vec();
        p.extend_from_slice(state);
        p.push(b'.');
        p
    };
    // (1, (2,), dtype('u4'), False, data)
    let dtype = b"cnumpy\ndtype\nX\x02\x00\x00\x00u4\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb";
    let state = |data: &[u8]| -> Vec<u8> {
        let mut s = b"(K\x01K\x02\x85".to_vec();
        s.extend_from_slice(dtype);
        s.push(0x89);
        s.extend_from_slice(data);
        s.extend_from_slice(b"tb");
        s
    };
    let eight = b"c_codecs\nencode\nX\x08\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00X\x06\x00\x00\x00latin1\x86R";
    let v = pickle::read(&array(&state(eight))).unwrap();
    assert_eq!(v.field("shape"), Some(&Value::Tuple(vec![Value::Int(2)])));
    assert_eq!(v.field("data"), Some(&Value::Bytes(vec![1, 0, 0, 0, 2, 0, 0, 0])));
    let four = b"c_codecs\nencode\nX\x04\x00\x00\x00\x01\x00\x00\x00X\x06\x00\x00\x00latin1\x86R";
    let e = pickle::read(&array(&state(four))).unwrap_err().to_string();
    assert!(e.contains("with 4 bytes of data"), "{e}");
    let e = pickle::read(&array(&state(b"]"))).unwrap_err().to_string();
    assert!(e.contains("an array of Python objects"), "{e}");
    let e = pickle::read(&array(b"")).unwrap_err().to_string();
    assert!(e.contains("no BUILD filled"), "{e}");
    let e = pickle::read(b"\x80\x02cnumpy\nndarray\n)R.").unwrap_err().to_string();
    assert!(e.contains("numpy.ndarray called directly"), "{e}");
    // NEWOBJ on a callable of the allowlist that is not a record.
    let e = pickle::read(b"\x80\x02ccollections\nOrderedDict\n)\x81.").unwrap_err().to_string();
    assert!(e.contains("NEWOBJ of something that is not a class read as a record"), "{e}");
}

/// Mutated Megatron checkpoints (their pickles, holding a record, and their
/// bytes): each loads or is refused in one line, never panics.
#[test]
fn fuzz_record_bearing_files() {
    let meta = meta();
    let files: Vec<Vec<u8>> = meta["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| std::fs::read(dir().join(c["file"].as_str().unwrap())).unwrap())
        .collect();
    crate::files::fuzz_read("megatron", 0x3e6a_7a05, &files, |v| matches!(v.get("args"), Some(Value::Object { .. })));
}
