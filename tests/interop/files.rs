//! `tch_lr::interop`: PyTorch's `torch.save` files.
//!
//! - Every fixture of tests/fixtures/interop/ (written by PyTorch through
//!   scripts/fixtures/gen_interop.py) reads to the value expected.json records
//!   from Python's own view: values exact, floats and tensors bit for bit.
//! - Each value written back by tch-lr loads in PyTorch
//!   (`torch.load(f, weights_only=True)`, the project's .venv) to the same value.
//! - Hostile and malformed files are refused with one line, never a panic;
//!   and a fuzzer (`FUZZ_CASES`, default 2,000; `FUZZ_SEED`) mutates archives
//!   and pickles: `FUZZ_CASES=100000 cargo test --release --test interop files::fuzz -- --nocapture`.
//! - `torch_file::load` leaves tensors' records on disk until asked for: read
//!   then, they are the values an in-memory read gives, or (the file cut,
//!   damaged or rewritten since the load) refused in one line naming the file
//!   and the entry, never other values; the fuzzer loads mutated files so and
//!   mutates them again after the load. A Trainer folder's moments are not read.

use crate::common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::Rng;
use serde_json::{json, Value as Json};
use tch_lr::interop::{hf, pickle, torch_file, DType, TensorRecord, Value};

fn dir() -> PathBuf {
    common::root().join("tests/fixtures/interop")
}

fn expected() -> Vec<(String, Json)> {
    let text = std::fs::read_to_string(dir().join("expected.json")).unwrap();
    let doc: Json = serde_json::from_str(&text).unwrap();
    doc["files"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::Float32 => "float32",
        DType::Float64 => "float64",
        DType::Float16 => "float16",
        DType::BFloat16 => "bfloat16",
        DType::Int64 => "int64",
        DType::Int32 => "int32",
        DType::Int16 => "int16",
        DType::Int8 => "int8",
        DType::UInt8 => "uint8",
        DType::Bool => "bool",
        d => panic!("{d:?}"),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The tagged form gen_interop.py's `encode` writes.
fn tagged(v: &Value) -> Json {
    let items =
        |items: &[(Value, Value)]| Json::Array(items.iter().map(|(k, v)| json!([tagged(k), tagged(v)])).collect());
    match v {
        Value::None => json!(["none"]),
        Value::Bool(b) => json!(["bool", b]),
        Value::Int(i) => json!(["int", i]),
        Value::Float(f) => json!(["float", hex(&f.to_be_bytes())]),
        Value::Str(s) => json!(["str", s]),
        Value::Bytes(b) => json!(["bytes", hex(b)]),
        Value::List(v) => json!(["list", v.iter().map(tagged).collect::<Vec<_>>()]),
        Value::Tuple(v) => json!(["tuple", v.iter().map(tagged).collect::<Vec<_>>()]),
        Value::Dict(i) => json!(["dict", items(i)]),
        Value::Counter(i) => json!(["counter", items(i)]),
        Value::OrderedDict { items: i, attrs } => json!(["odict", items(i), items(attrs)]),
        Value::Tensor(t) => {
            json!(["tensor", dtype_name(t.dtype()), t.shape(), t.requires_grad, hex(&t.contiguous_bytes().unwrap())])
        }
        v => panic!("{v:?}"),
    }
}

fn python() -> PathBuf {
    common::root().join(".venv/bin/python")
}

/// PyTorch's view of each file (`torch.load(f, weights_only=True)`), tagged.
fn torch_load(files: &[PathBuf]) -> Vec<Json> {
    let out = common::command(python())
        .arg(common::root().join("scripts/fixtures/gen_interop.py"))
        .arg("--decode")
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("{}: {e} (the tests need the project's .venv: scripts/setup.sh)", python().display())
        });
    assert!(out.status.success(), "torch.load failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn fixtures_read_as_python_sees_them() {
    let expected = expected();
    assert!(expected.len() >= 12);
    for (name, want) in &expected {
        let got = torch_file::load(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(tagged(&got), *want, "{name}");
    }
}

#[test]
fn fixtures_hold_what_the_issue_needs() {
    let load = |n: &str| torch_file::load(dir().join(n)).unwrap();
    let multistep = load("multistep_lr.pt");
    let Some(Value::Counter(m)) = multistep.get("milestones") else { panic!("{multistep:?}") };
    assert_eq!(m, &[(Value::Int(2), Value::Int(1)), (Value::Int(5), Value::Int(2)), (Value::Int(9), Value::Int(1))]);
    let plateau = load("reduce_lr_on_plateau_fresh.pt");
    assert_eq!(plateau.get("mode_worse"), Some(&Value::Float(f64::INFINITY)));
    let seq = load("sequential_lr.pt");
    let Some(Value::List(children)) = seq.get("_schedulers") else { panic!() };
    assert_eq!(children.len(), 2);
    let adam = load("adam_2groups.pt");
    let Some(Value::List(groups)) = adam.get("param_groups") else { panic!() };
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[1].get("betas"), Some(&Value::Tuple(vec![Value::Float(0.8), Value::Float(0.99)])));
    let state = adam.get("state").unwrap().items().unwrap();
    assert_eq!(state.len(), 3);
    let Some(Value::Tensor(step)) = state[0].1.get("step") else { panic!() };
    assert_eq!((step.dtype(), step.shape()), (DType::Float32, &[][..]));
    assert!(state[2].1.get("max_exp_avg_sq").is_some());
    let model = load("model_state_dict.pt");
    let Value::OrderedDict { items, attrs } = &model else { panic!() };
    assert_eq!(items.len(), 9);
    assert!(matches!(&attrs[0].0, Value::Str(s) if s == "_metadata"));
    let dtypes = load("dtypes.pt");
    let Some(Value::Tensor(t)) = dtypes.get("transposed") else { panic!() };
    assert_eq!((t.shape(), t.strides()), (&[4, 3][..], &[1, 4][..]));
    let Some(Value::Tensor(s)) = dtypes.get("slice") else { panic!() };
    assert_eq!((s.offset(), s.shape()), (6, &[2, 2][..]));
}

#[test]
fn written_files_load_in_pytorch_as_the_original() {
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut values = Vec::new();
    for (name, _) in expected() {
        let v = torch_file::load(dir().join(&name)).unwrap();
        let path = tmp.path().join(&name);
        torch_file::save(&path, &v).unwrap();
        // tch-lr reads its own file back to the same value.
        assert_eq!(tagged(&torch_file::load(&path).unwrap()), tagged(&v), "{name}");
        files.push(path);
        values.push((name, v));
    }
    let loaded = torch_load(&files);
    assert_eq!(loaded.len(), values.len());
    for ((name, v), got) in values.iter().zip(&loaded) {
        assert_eq!(*got, tagged(v), "{name}: PyTorch loads tch-lr's file to another value");
    }
}

#[test]
fn pickles_round_trip_without_tensors() {
    let v = Value::Dict(vec![
        (Value::Str("a".into()), Value::List(vec![Value::Int(i64::MIN), Value::Int(-129), Value::Int(1 << 40)])),
        (Value::Int(3), Value::Tuple(vec![Value::None, Value::Bool(true), Value::Float(-0.0)])),
        (Value::Str("c".into()), Value::Counter(vec![(Value::Int(5), Value::Int(2))])),
        (Value::Str("b".into()), Value::Bytes(vec![0, 200, 255])),
        (Value::Str("o".into()), Value::OrderedDict { items: vec![], attrs: vec![] }),
    ]);
    assert_eq!(pickle::read(&pickle::write(&v).unwrap()).unwrap(), v);
    let t = TensorRecord::contiguous(DType::Float32, vec![1], vec![0; 4]).unwrap();
    let e = pickle::write(&Value::Tensor(t)).unwrap_err().to_string();
    assert!(e.contains("torch.save archive"), "{e}");
}

#[test]
fn tensors_convert_to_and_from_tch() {
    let dtypes = torch_file::load(dir().join("dtypes.pt")).unwrap();
    for (k, v) in dtypes.items().unwrap() {
        let Value::Tensor(t) = v else { continue };
        let tensor = torch_file::to_tch(t).unwrap_or_else(|e| panic!("{k:?}: {e}"));
        assert_eq!(tensor.size(), t.shape(), "{k:?}");
        let mut back = torch_file::from_tch(&tensor).unwrap();
        back.requires_grad = t.requires_grad;
        assert_eq!(&back, t, "{k:?}");
    }
    let Some(Value::Tensor(t)) = dtypes.get("transposed") else { panic!() };
    let tensor = torch_file::to_tch(t).unwrap();
    let want = tch::Tensor::arange(12, (tch::Kind::Float, tch::Device::Cpu)).reshape([3, 4]).tr();
    assert!(tensor.equal(&want));
    // A parameter (requires_grad) and a non-contiguous view.
    let p = tch::Tensor::ones([2, 3], (tch::Kind::Double, tch::Device::Cpu)).set_requires_grad(true);
    let r = torch_file::from_tch(&p).unwrap();
    assert!(r.requires_grad && r.dtype() == DType::Float64 && r.shape() == [2, 3]);
    let r = torch_file::from_tch(&want).unwrap();
    assert_eq!((r.shape(), r.strides()), (&[4, 3][..], &[3, 1][..]));
    assert!(torch_file::to_tch(&r).unwrap().equal(&want));
}

// ---------------------------------------------------------------------------
// Hostile and malformed inputs
// ---------------------------------------------------------------------------

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// A zip of STORED entries (`method` 0 unless asked otherwise).
pub(crate) fn zip(entries: &[(&str, &[u8])], method: u16) -> Vec<u8> {
    let (mut out, mut cd) = (Vec::new(), Vec::new());
    for (name, data) in entries {
        let off = out.len() as u32;
        let fields = |v: &mut Vec<u8>| {
            v.extend_from_slice(&[20, 0, 0, 0]);
            v.extend_from_slice(&method.to_le_bytes());
            v.extend_from_slice(&[0, 0, 0, 0]);
            v.extend_from_slice(&crc32(data).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&[0, 0]);
        };
        out.extend_from_slice(b"PK\x03\x04");
        fields(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        cd.extend_from_slice(b"PK\x01\x02\x14\x00");
        fields(&mut cd);
        cd.extend_from_slice(&[0; 10]);
        cd.extend_from_slice(&off.to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
    }
    let cd_off = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// A pickle of `_rebuild_tensor_v2` on storage "0" (`numel` floats declared),
/// with this size, stride and offset.
fn tensor_pickle(numel: u8, size: u8, stride: u8, offset: u8) -> Vec<u8> {
    let mut p = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK"
        .to_vec();
    p.extend_from_slice(&[numel, b't', b'Q', b'K', offset, b'K', size, 0x85, b'K', stride, 0x85, 0x89]);
    p.extend_from_slice(b"ccollections\nOrderedDict\n)RtR.");
    p
}

/// Asserts an error of one line, naming `needle`.
fn refused(r: tch_lr::Result<Value>, needle: &str) {
    let e = r.expect_err("must be refused").to_string();
    assert!(!e.contains('\n') && e.len() < 1100, "not one line: {e}");
    assert!(e.contains(needle), "{e:?} does not say {needle:?}");
}

/// The guide and the module's documentation list the allowlist as
/// `pickle::ALLOWLIST` holds it: its callables, then the `torch.*Storage`
/// classes.
#[test]
fn the_allowlist_is_documented_as_the_reader_holds_it() {
    let mut want: Vec<&str> = pickle::ALLOWLIST.iter().copied().filter(|g| !g.ends_with("Storage")).collect();
    want.push("torch.*Storage");
    let storages = pickle::ALLOWLIST.iter().filter(|g| g.ends_with("Storage")).count();
    assert_eq!(storages, 10, "one storage class per DType");
    for (file, after) in
        [("docs/guide/pytorch-interop.md", "allowlist of globals ("), ("src/interop/mod.rs", "ALLOWLIST) (")]
    {
        let text = std::fs::read_to_string(common::root().join(file)).unwrap().replace("//! ", "").replace('\n', " ");
        let list = text.split(after).nth(1).and_then(|t| t.split(')').next()).unwrap_or_else(|| panic!("{file}"));
        let named: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
        assert_eq!(named, want, "{file}");
    }
}

#[test]
fn hostile_pickles_are_refused_in_one_line() {
    refused(pickle::read(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R."), "os.system is not on the allowlist");
    refused(pickle::read(b"\x80\x02cbuiltins\neval\n."), "builtins.eval");
    refused(pickle::read(b"\x80\x02]X\x01\x00\x00\x00a\x85R."), "REDUCE on a list");
    refused(pickle::read(b"\x80\x02ctorch\nFloatStorage\n)R."), "called directly");
    refused(
        pickle::read(b"\x80\x02ccollections\nOrderedDict\nK\x01\x85R."),
        "OrderedDict of a value that is not a mapping",
    );
    refused(pickle::read(b"\x80\x02X\xf0\xff\xff\xffabc."), "pickle ends early");
    refused(pickle::read(b"\x80\x02\x8b\x00\x00\x00\x80\x01."), "pickle ends early");
    refused(pickle::read(b"\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01."), "beyond the 64-bit range");
    assert_eq!(pickle::read(b"\x80\x02\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\xff.").unwrap(), Value::Int(-1));
    refused(pickle::read(b"\x80\x04."), "protocol 4");
    refused(pickle::read(b"\x80\x02"), "without STOP");
    refused(pickle::read(b"\x80\x02h\x07."), "never PUT");
    refused(pickle::read(b"\x80\x02}]K\x01s."), "dict key of type list");
    refused(pickle::read(b"\x80\x02K\x01K\x02."), "values left");
    refused(pickle::read(b"\x80\x02]q\x00h\x00a."), "deeper than");
    refused(pickle::read(b"\x80\x02]\x93."), "opcode 0x93");
    // A deep nest and a billion laughs: errors, not a stack overflow or an allocation storm.
    let mut deep = b"\x80\x02".to_vec();
    deep.extend(std::iter::repeat_n(b']', 200_000));
    deep.extend(std::iter::repeat_n(b'a', 199_999));
    deep.push(b'.');
    refused(pickle::read(&deep), "deeper than");
    let mut laughs = b"\x80\x02X\x09\x00\x00\x00lollollolq\x000".to_vec();
    for i in 0..40u8 {
        laughs.push(b'(');
        for _ in 0..10 {
            laughs.extend_from_slice(&[b'h', i]);
        }
        laughs.extend_from_slice(&[b'l', b'q', i + 1, b'0']);
    }
    laughs.extend_from_slice(&[b'h', 40, b'.']);
    refused(pickle::read(&laughs), "size budget");
    // One big dict copied by many Counter(...) calls: a work budget, not quadratic time.
    let mut many = b"\x80\x02}q\x00(".to_vec();
    for i in 0..1_000u16 {
        many.push(b'M');
        many.extend_from_slice(&i.to_le_bytes());
        many.extend_from_slice(b"K\x01");
    }
    many.extend_from_slice(b"u0ccollections\nCounter\nq\x010");
    for _ in 0..2_000 {
        many.extend_from_slice(b"h\x01h\x00\x85R0");
    }
    many.extend_from_slice(b"h\x00.");
    refused(pickle::read(&many), "more work than its size allows");
    // A stride-0 view of a billion elements over a 4-byte storage: refused
    // before anything is expanded.
    let big = zip(&[("a/data.pkl", &tensor_pickle(1, 0, 0, 0)), ("a/data/0", &[0u8; 4])], 0);
    assert!(torch_file::read(&big).is_ok());
    let mut pkl = tensor_pickle(1, 0, 0, 0);
    let at = pkl.windows(3).position(|w| w == [b'K', 0, 0x85]).unwrap();
    pkl.splice(at..at + 2, *b"J\x00\xca\x9a\x3b");
    let big = zip(&[("a/data.pkl", &pkl), ("a/data/0", &[0u8; 4])], 0);
    refused(torch_file::read(&big), "size budget");
}

#[test]
fn hostile_archives_are_refused_in_one_line() {
    let data = [0u8; 12];
    let ok = zip(&[("a/data.pkl", &tensor_pickle(3, 3, 1, 0)), ("a/data/0", &data)], 0);
    assert!(matches!(torch_file::read(&ok).unwrap(), Value::Tensor(_)));
    let with = |pkl: &[u8], data: &[u8]| zip(&[("a/data.pkl", pkl), ("a/data/0", data)], 0);
    refused(torch_file::read(&with(&tensor_pickle(3, 100, 1, 0), &data)), "beyond its storage");
    refused(torch_file::read(&with(&tensor_pickle(3, 2, 3, 0), &data)), "beyond its storage");
    refused(torch_file::read(&with(&tensor_pickle(3, 3, 1, 1), &data)), "beyond its storage");
    refused(torch_file::read(&with(&tensor_pickle(200, 3, 1, 0), &data)), "declares 200");
    refused(torch_file::read(&zip(&[("a/data.pkl", &tensor_pickle(3, 3, 1, 0))], 0)), "missing");
    refused(torch_file::read(&zip(&[("a/data/0", &data)], 0)), "no data.pkl");
    refused(torch_file::read(&zip(&[("a/data.pkl", b"\x80\x02N."), ("a/byteorder", b"big")], 0)), "byteorder \"big\"");
    refused(torch_file::read(&zip(&[("a/data.pkl", b"\x80\x02N.")], 8)), "compressed");
    refused(torch_file::read(b"\x80\x02N."), "no end of central directory");
    refused(torch_file::read(b""), "no end of central directory");
    let real = std::fs::read(dir().join("checkpoint.pt")).unwrap();
    for cut in [1, 10, 100, real.len() / 2, real.len() - 30, real.len() - 1] {
        assert!(torch_file::read(&real[..cut]).is_err(), "cut at {cut}");
        refused(torch_file::read(&real[..cut]), "torch file:");
    }
    // A damaged byte inside a record: its CRC.
    let mut damaged = real.clone();
    damaged[200] ^= 1;
    refused(torch_file::read(&damaged), "CRC");
    // A central directory declaring more entries than it can hold.
    let mut lie = ok.clone();
    let n = lie.len();
    lie[n - 12..n - 10].copy_from_slice(&0xfff0u16.to_le_bytes());
    refused(torch_file::read(&lie), "entries declared");
    refused(torch_file::load(dir().join("no-such-file.pt")), "no-such-file.pt");
}

/// The same archive with its sizes in a zip64 end record (as large files have).
fn as_zip64(file: &[u8]) -> Vec<u8> {
    let eocd = file.len() - 22;
    let (count, size, off) = (&file[eocd + 10..eocd + 12], &file[eocd + 12..eocd + 16], &file[eocd + 16..eocd + 20]);
    let widen = |b: &[u8]| {
        let mut v = [0u8; 8];
        v[..b.len()].copy_from_slice(b);
        v
    };
    let mut out = file[..eocd].to_vec();
    let rec = out.len() as u64;
    out.extend_from_slice(b"PK\x06\x06");
    out.extend_from_slice(&44u64.to_le_bytes());
    out.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&widen(count));
    out.extend_from_slice(&widen(count));
    out.extend_from_slice(&widen(size));
    out.extend_from_slice(&widen(off));
    out.extend_from_slice(b"PK\x06\x07\0\0\0\0");
    out.extend_from_slice(&rec.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\0\0");
    out
}

#[test]
fn zip64_end_records_are_read() {
    let file = std::fs::read(dir().join("adam_2groups.pt")).unwrap();
    let v = torch_file::read(&file).unwrap();
    assert_eq!(tagged(&torch_file::read(&as_zip64(&file)).unwrap()), tagged(&v));
    let mut lie = as_zip64(&file);
    let at = lie.len() - 22 - 20 + 8;
    lie[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    refused(torch_file::read(&lie), "zip64 record out of range");
}

// ---------------------------------------------------------------------------
// Lazy records
// ---------------------------------------------------------------------------

/// The tensors of `v`, depth first.
fn tensors(v: &Value) -> Vec<&TensorRecord> {
    match v {
        Value::Tensor(t) => vec![t],
        Value::List(v) | Value::Tuple(v) => v.iter().flat_map(tensors).collect(),
        Value::Dict(items) | Value::Counter(items) => {
            items.iter().flat_map(|(k, v)| [k, v]).flat_map(tensors).collect()
        }
        Value::OrderedDict { items, attrs } => {
            items.iter().chain(attrs).flat_map(|(k, v)| [k, v]).flat_map(tensors).collect()
        }
        _ => vec![],
    }
}

/// Asserts that `e` is one line naming `file` and a record.
fn record_refusal(e: &tch_lr::Error, file: &str, says: &str) {
    let e = e.to_string();
    assert!(!e.contains('\n') && e.len() <= 300, "not one short line: {e}");
    assert!(e.contains(file) && e.contains("entry ") && e.contains("data/") && e.contains(says), "{e}");
}

#[test]
fn load_leaves_records_on_disk_until_asked() {
    let path = dir().join("adam_2groups.pt");
    let lazy = torch_file::load(&path).unwrap();
    let ts = tensors(&lazy);
    assert!(ts.len() >= 9 && ts.iter().all(|t| !t.storage().is_in_memory()), "{ts:?}");
    let eager = torch_file::read(&std::fs::read(&path).unwrap()).unwrap();
    assert!(tensors(&eager).iter().all(|t| t.storage().is_in_memory()));
    assert_eq!(tagged(&lazy), tagged(&eager));
    // Written back, the records are read (and checked) and PyTorch's layout kept.
    assert_eq!(tagged(&torch_file::read(&torch_file::write(&lazy).unwrap()).unwrap()), tagged(&eager));
}

/// A file changed on disk after a lazy load: a record whose bytes changed
/// fails its CRC, a cut file its size, each in one line naming the file and
/// the entry; a record untouched still reads; a file replaced by a rename
/// (an atomic save over it) leaves the loaded records reading the file they
/// were loaded from. Never other values.
#[test]
fn a_file_changed_after_a_lazy_load_is_refused_never_misread() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("adam.pt");
    let original = std::fs::read(dir().join("adam_2groups.pt")).unwrap();
    std::fs::write(&path, &original).unwrap();
    let want = |v: &Value| tensors(v).iter().map(|t| t.contiguous_bytes().unwrap()).collect::<Vec<_>>();

    let first = torch_file::load(&path).unwrap();
    let values = want(&first);
    let other = tmp.path().join("other.pt");
    std::fs::write(&other, std::fs::read(dir().join("dtypes.pt")).unwrap()).unwrap();
    std::fs::rename(&other, &path).unwrap();
    assert_eq!(want(&first), values, "the records read the file they were loaded from");

    std::fs::write(&path, &original).unwrap();
    let loaded = torch_file::load(&path).unwrap();
    let ts = tensors(&loaded);
    let big = (0..ts.len()).max_by_key(|&i| values[i].len()).unwrap();
    let at = original.windows(values[big].len()).position(|w| w == values[big]).unwrap();
    let mut damaged = original.clone();
    damaged[at + 1] ^= 0x10;
    std::fs::write(&path, &damaged).unwrap();
    for (i, t) in ts.iter().enumerate() {
        match t.contiguous_bytes() {
            Ok(b) => assert_eq!(b, values[i], "tensor {i}"),
            Err(e) => record_refusal(&e, "adam.pt", "fails its CRC check"),
        }
    }
    assert!(ts[big].contiguous_bytes().is_err() && torch_file::to_tch(ts[big]).is_err());
    assert!(torch_file::write(&loaded).is_err(), "a damaged record is not written on");
    std::fs::write(&path, &original[..original.len() - 1]).unwrap();
    for t in &ts {
        record_refusal(&t.contiguous_bytes().unwrap_err(), "adam.pt", "changed on disk since it was loaded");
    }
}

/// `hf::load` leaves the optimizer's moments on disk (a trace reads the
/// folder once, `trace::trace_with`).
#[test]
fn a_trainer_folders_moments_are_not_read() {
    let folder = common::root().join("tests/fixtures/hf_trainer/cosine/checkpoint-17");
    let checkpoint = hf::load(&folder).unwrap();
    let moments = tensors(checkpoint.state.get("optimizer").unwrap().get("state").unwrap());
    assert!(moments.len() == 12 && moments.iter().all(|t| !t.storage().is_in_memory()));
}

// ---------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------

/// Byte-level mutations: flips, interesting values, cuts, duplicated and deleted runs.
pub(crate) fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if b.is_empty() {
            b.push(rng.next() as u8);
        }
        let at = rng.below(b.len());
        match rng.below(8) {
            // A pickle opcode (or two) from the ones torch.save uses.
            7 => {
                let ops: [&[u8]; 18] = [
                    b"(",
                    b"t",
                    b"R",
                    b"b",
                    b"h\x00",
                    b"h\x02",
                    b"q\x05",
                    b"0",
                    b"u",
                    b"e",
                    b"\x85",
                    b"N",
                    b"]",
                    b"}",
                    b")",
                    b"Q",
                    b"s",
                    b"\x8a\x08",
                ];
                let op = ops[rng.below(ops.len())];
                b.splice(at..at, op.iter().copied());
            }
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = [0, 1, 0x7f, 0x80, 0xff, b'(', b'R', b'.', b'h', b'q'][rng.below(10)],
            2 => b.truncate(at),
            3 => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                b.drain(at..end);
            }
            4 => {
                let end = (at + 1 + rng.below(16)).min(b.len());
                let run = b[at..end].to_vec();
                let to = rng.below(b.len());
                b.splice(to..to, run);
            }
            5 => {
                let v = [0xffff_ffffu32, 0x7fff_ffff, 0x8000_0000, 1 << 20][rng.below(4)].to_le_bytes();
                for (i, x) in v.iter().enumerate() {
                    if let Some(y) = b.get_mut(at + i) {
                        *y = *x;
                    }
                }
            }
            _ => b.insert(at, rng.next() as u8),
        }
    }
    b
}

/// The entries of a torch.save file, for rebuilding it around a mutated pickle.
pub(crate) fn parts(file: &[u8]) -> Vec<(String, Vec<u8>)> {
    let eocd = file.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    let le16 = |at: usize| u16::from_le_bytes([file[at], file[at + 1]]) as usize;
    let le32 = |at: usize| u32::from_le_bytes(file[at..at + 4].try_into().unwrap()) as usize;
    let (count, mut at) = (le16(eocd + 10), le32(eocd + 16));
    let mut out = Vec::new();
    for _ in 0..count {
        let (size, nlen, elen, clen, local) =
            (le32(at + 20), le16(at + 28), le16(at + 30), le16(at + 32), le32(at + 42));
        let name = String::from_utf8(file[at + 46..at + 46 + nlen].to_vec()).unwrap();
        let start = local + 30 + le16(local + 26) + le16(local + 28);
        out.push((name, file[start..start + size].to_vec()));
        at += 46 + nlen + elen + clen;
    }
    out
}

/// Fuzzes `torch_file::read` over `files`: `FUZZ_CASES` cases (2,000 by
/// default) from `FUZZ_SEED` (else `seed`), each a file whose bytes or whose
/// pickle alone (the zip rebuilt around it) are mutated. Each must load or be
/// refused in one line, never panic; at least one that loads must hold what
/// `holds_record` looks for (a pickled class read as a record) and more than a
/// quarter must be refused. `what` names the files in the summary line.
pub(crate) fn fuzz_read(what: &str, seed: u64, files: &[Vec<u8>], holds_record: impl Fn(&Value) -> bool) {
    let cases: usize = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000);
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(seed);
    let mut rng = Rng(seed);
    let start = Instant::now();
    let (mut loaded, mut refused, mut records) = (0, 0, 0);
    for case in 0..cases {
        let file = &files[rng.below(files.len())];
        let input = if case % 2 == 0 {
            mutate(&mut rng, file)
        } else {
            let mut entries = parts(file);
            let pkl = entries.iter_mut().find(|(n, _)| n.ends_with("data.pkl")).unwrap();
            pkl.1 = mutate(&mut rng, &pkl.1);
            let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
            zip(&refs, 0)
        };
        match catch_unwind(|| torch_file::read(&input)) {
            Ok(Ok(v)) => {
                loaded += 1;
                if holds_record(&v) {
                    records += 1;
                }
            }
            Ok(Err(e)) => {
                let e = e.to_string();
                assert!(!e.contains('\n'), "seed {seed} case {case}: not one line: {e}");
                refused += 1;
            }
            Err(_) => panic!("seed {seed} case {case}: panic"),
        }
    }
    eprintln!(
        "{what} fuzz: {cases} cases ({loaded} loaded, {records} holding the record, {refused} refused) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(records > 0 && refused > cases / 4, "{records} records, {refused} refused");
}

fn fuzz_cases() -> usize {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
}

#[test]
fn fuzz_archives_and_pickles() {
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x1a7e_0b17);
    let mut rng = Rng(seed);
    let files: Vec<Vec<u8>> = expected().iter().map(|(n, _)| std::fs::read(dir().join(n)).unwrap()).collect();
    let zip64 = as_zip64(&files[8]);
    let ours: Vec<Vec<u8>> = files.iter().map(|f| torch_file::write(&torch_file::read(f).unwrap()).unwrap()).collect();
    let start = Instant::now();
    let (mut loaded, mut errors) = (0usize, 0usize);
    let cases = fuzz_cases();
    for case in 0..cases {
        let file = if case % 2 == 0 { &files[rng.below(files.len())] } else { &ours[rng.below(ours.len())] };
        let input = match case % 3 {
            // The archive's bytes.
            0 if case % 6 == 0 => mutate(&mut rng, &zip64),
            0 => mutate(&mut rng, file),
            // The pickle, in a valid archive with the original records.
            _ => {
                let mut entries = parts(file);
                let pkl = entries.iter_mut().find(|(n, _)| n.ends_with("data.pkl")).unwrap();
                pkl.1 = mutate(&mut rng, &pkl.1);
                let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
                zip(&refs, 0)
            }
        };
        let result = catch_unwind(AssertUnwindSafe(|| {
            let r = torch_file::read(&input);
            if let Ok(v) = &r {
                // Whatever loads writes back and reads again to the same value.
                let again = torch_file::read(&torch_file::write(v).unwrap()).unwrap();
                assert_eq!(tagged(&again), tagged(v));
            }
            r
        }));
        match result {
            Ok(Ok(_)) => loaded += 1,
            Ok(Err(e)) => {
                let e = e.to_string();
                assert!(!e.contains('\n') && e.len() < 1100, "seed {seed} case {case}: not one line: {e}");
                errors += 1;
            }
            Err(_) => panic!("seed {seed} case {case}: panic on input {:?}", hex(&input)),
        }
    }
    eprintln!(
        "interop fuzz: {cases} cases ({loaded} loaded, {errors} refused) in {:.1} s, seed {seed}",
        start.elapsed().as_secs_f64()
    );
    assert!(loaded > 0 && errors > cases / 4);
}

/// The lazy path: mutated archives written to a file and loaded with
/// `torch_file::load`, then (every other case) the file mutated again on
/// disk, then every record read. A load is refused in one line exactly when
/// the in-memory read refuses for another reason than a record's CRC; a
/// record reads to the in-memory read's bytes, or (its file changed since,
/// or its CRC is wrong) is refused in one line naming the file and the entry.
#[test]
fn fuzz_lazy_loads() {
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x1a2e_f11e);
    let mut rng = Rng(seed);
    let files: Vec<Vec<u8>> = expected().iter().map(|(n, _)| std::fs::read(dir().join(n)).unwrap()).collect();
    // In memory where the system has a tmpfs: rewriting a file thousands of
    // times on a disk mounted with `discard` takes 20 times as long.
    let shm = Path::new("/dev/shm");
    let tmp = shm.is_dir().then(|| tempfile::tempdir_in(shm).ok()).flatten();
    let tmp = tmp.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let path = tmp.path().join("f.pt");
    let (start, cases) = (Instant::now(), fuzz_cases());
    let (mut loaded, mut refused_loads, mut refused_records) = (0usize, 0usize, 0usize);
    for case in 0..cases {
        let file = &files[rng.below(files.len())];
        let input = mutate(&mut rng, file);
        std::fs::write(&path, &input).unwrap();
        let changed = (case % 2 == 1).then(|| mutate(&mut rng, &input));
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let lazy = torch_file::load(&path);
            if let Some(bytes) = &changed {
                std::fs::write(&path, bytes).unwrap();
            }
            let eager = torch_file::read(&input);
            let lazy = match lazy {
                Err(e) => {
                    let e = e.to_string();
                    assert!(eager.is_err(), "refused lazily, read in memory: {e}");
                    assert!(!e.contains('\n') && e.len() < 1100, "not one line: {e}");
                    return (false, 0);
                }
                Ok(v) => v,
            };
            if let Err(e) = &eager {
                assert!(e.to_string().contains("CRC"), "loaded lazily, refused in memory: {e}");
            }
            let want = eager.as_ref().map(|v| tensors(v)).unwrap_or_default();
            let mut refused = 0;
            for (i, t) in tensors(&lazy).iter().enumerate() {
                match t.contiguous_bytes() {
                    Ok(b) if eager.is_ok() => assert_eq!(b, want[i].contiguous_bytes().unwrap(), "tensor {i}"),
                    Ok(_) => {}
                    Err(e) => {
                        assert!(changed.is_some() || eager.is_err(), "an unchanged, sound file: {e}");
                        record_refusal(&e, "f.pt", "");
                        refused += 1;
                    }
                }
            }
            (true, refused)
        }));
        match outcome {
            Ok((true, refused)) => {
                loaded += 1;
                refused_records += refused;
            }
            Ok((false, _)) => refused_loads += 1,
            Err(_) => panic!("seed {seed} case {case}: panic on input {:?}", hex(&input)),
        }
    }
    eprintln!(
        "interop lazy fuzz: {cases} cases ({loaded} loaded, {refused_loads} refused, {refused_records} records \
         refused after the load) in {:.1} s, seed {seed}",
        start.elapsed().as_secs_f64()
    );
    assert!(loaded > 0 && refused_loads > cases / 4 && refused_records > 0);
}

/// PyTorch's `model.state_dict()` (an OrderedDict with `_metadata`: `nn.Sequential(Linear(3, 4),
/// BatchNorm1d(4), Linear(4, 2))` after a training step, gen_interop.py) loads by name into a
/// `VarStore` of the same names (`interop::model::load_state_dict`), bit for bit, and
/// `model::state_dict` writes it back as PyTorch reads it; missing, unexpected and mismatched
/// entries are one line each and load nothing.
#[test]
fn a_pytorch_model_state_dict_loads_by_name() {
    use tch::nn::{self, VarStore};
    use tch_lr::interop::model;
    let sd = torch_file::load(dir().join("model_state_dict.pt")).unwrap();
    let build = || {
        let vs = VarStore::new(tch::Device::Cpu);
        let _a = nn::linear(vs.root() / "0", 3, 4, Default::default());
        let _b = nn::batch_norm1d(vs.root() / "1", 4, Default::default());
        let _c = nn::linear(vs.root() / "2", 4, 2, Default::default());
        vs
    };
    let mut vs = build();
    model::load_state_dict(&mut vs, &sd, &["num_batches_tracked"]).unwrap();
    let saved: std::collections::HashMap<String, Value> = sd
        .items()
        .unwrap()
        .iter()
        .map(|(k, v)| (if let Value::Str(k) = k { k.clone() } else { panic!() }, v.clone()))
        .collect();
    let ours = model::state_dict(&vs).unwrap();
    assert_eq!(ours.items().unwrap().len(), saved.len() - 1, "all but num_batches_tracked");
    for (k, v) in ours.items().unwrap() {
        let Value::Str(k) = k else { panic!() };
        assert_eq!(Some(v), saved.get(k), "{k}");
    }

    // Strict without the ignore list; another model; another shape: one line, nothing loaded.
    let fresh = build();
    let before = model::state_dict(&fresh).unwrap();
    let mut fresh = fresh;
    let e = model::load_state_dict(&mut fresh, &sd, &[]).unwrap_err().to_string();
    assert!(e.contains("unexpected `1.num_batches_tracked`") && !e.contains('\n'), "{e}");
    let mut other = VarStore::new(tch::Device::Cpu);
    let _x = nn::linear(other.root() / "0", 3, 4, Default::default());
    let _y = nn::linear(other.root() / "9", 4, 2, Default::default());
    let e = model::load_state_dict(&mut other, &sd, &["num_batches_tracked"]).unwrap_err().to_string();
    assert!(e.contains("missing `9.bias`, `9.weight`") && e.contains("unexpected `1.weight`, `1.bias`"), "{e}");
    let mut wide = VarStore::new(tch::Device::Cpu);
    let _a = nn::linear(wide.root() / "0", 3, 5, Default::default());
    let _b = nn::batch_norm1d(wide.root() / "1", 4, Default::default());
    let _c = nn::linear(wide.root() / "2", 4, 2, Default::default());
    let e = model::load_state_dict(&mut wide, &sd, &["num_batches_tracked"]).unwrap_err().to_string();
    assert!(e.contains("`0.") && e.contains("in the state_dict") && e.contains("in the model"), "{e}");
    assert_eq!(model::state_dict(&fresh).unwrap(), before);
}
