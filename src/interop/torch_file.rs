//! `torch.save`'s zip archive: a small reader and writer for its STORED
//! (uncompressed) entries, and the conversion of a [`TensorRecord`] to and
//! from a `tch::Tensor`.
//!
//! The archive holds `<name>/data.pkl` (the pickle), `<name>/data/<key>` (one
//! record per storage, raw little-endian elements), `<name>/byteorder`
//! (`little`), `<name>/version` and a few markers the reader ignores. The
//! reader trusts nothing it reads: every offset and size is checked against
//! the file's real length before use, every entry's CRC-32 is verified, and a
//! compressed, encrypted, split or big-endian archive is refused in one line.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::pickle::{self, err, DType, StorageRef, TensorRecord, Value};
use crate::{Error, Result};

/// The most entries an archive may list.
pub const MAX_ENTRIES: usize = 1 << 20;

/// Reads a `torch.save` file.
pub fn load(path: impl AsRef<Path>) -> Result<Value> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.into(), source })?;
    read(&bytes).map_err(|e| match e {
        Error::TorchFile(m) => Error::TorchFile(crate::error::readable(&format!("{}: {m}", path.display()))),
        e => e,
    })
}

/// Writes `value` as a `torch.save` file that `torch.load(f, weights_only=True)`
/// reads; atomically (a temporary file beside it, then a rename).
pub fn save(path: impl AsRef<Path>, value: &Value) -> Result<()> {
    let path = path.as_ref();
    let bytes = write(value)?;
    let io = |source| Error::Io { path: path.into(), source };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

// ---------------------------------------------------------------------------
// Zip, STORED entries only
// ---------------------------------------------------------------------------

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32 (ISO-HDLC), as zip uses it.
fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8))
}

/// The entries of a zip archive: name → its bytes within `file`.
fn entries(file: &[u8]) -> Result<Vec<(String, &[u8])>> {
    let bad = |what: &str| err(format!("not a torch.save zip archive: {what}"));
    let tail = file.len().saturating_sub(22 + 65535);
    let eocd = (tail..file.len().saturating_sub(21))
        .rev()
        .find(|&i| file[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| bad("no end of central directory (a cut or foreign file)"))?;
    let r = |f: Option<u32>| f.ok_or_else(|| bad("cut end record"));
    if le16(file, eocd + 4) != Some(0) || le16(file, eocd + 6) != Some(0) {
        return Err(bad("a split archive"));
    }
    let mut count = le16(file, eocd + 10).ok_or_else(|| bad("cut end record"))? as u64;
    let mut cd_size = r(le32(file, eocd + 12))? as u64;
    let mut cd_off = r(le32(file, eocd + 16))? as u64;
    if count == 0xffff || cd_size == 0xffff_ffff || cd_off == 0xffff_ffff {
        // Zip64: the locator sits just before the end record.
        let loc = eocd.checked_sub(20).filter(|&l| file[l..].starts_with(b"PK\x06\x07"));
        let loc = loc.ok_or_else(|| bad("zip64 sizes without a zip64 locator"))?;
        let rec = le64(file, loc + 8).ok_or_else(|| bad("cut zip64 locator"))?;
        let rec =
            usize::try_from(rec).ok().filter(|&r| r < file.len()).ok_or_else(|| bad("zip64 record out of range"))?;
        if !file[rec..].starts_with(b"PK\x06\x06") {
            return Err(bad("no zip64 end record"));
        }
        let z = |at| le64(file, rec + at).ok_or_else(|| bad("cut zip64 end record"));
        count = z(32)?;
        cd_size = z(40)?;
        cd_off = z(48)?;
    }
    let cd_end = cd_off.checked_add(cd_size).filter(|&e| e <= file.len() as u64);
    let Some(cd_end) = cd_end else {
        return Err(bad("central directory beyond the end of the file"));
    };
    if count > MAX_ENTRIES as u64 || count > cd_size / 46 + 1 {
        return Err(bad(&format!("{count} entries declared in a central directory of {cd_size} bytes")));
    }
    let (cd_off, cd_end) = (cd_off as usize, cd_end as usize);
    let mut out: Vec<(String, &[u8])> = Vec::with_capacity(count as usize);
    let mut names = std::collections::HashSet::new();
    let mut at = cd_off;
    for _ in 0..count {
        let h = |o: usize| le32(file, at + o).ok_or_else(|| bad("cut central directory"));
        let s = |o: usize| le16(file, at + o).map(|v| v as usize).ok_or_else(|| bad("cut central directory"));
        if at + 46 > cd_end || h(0)? != 0x0201_4b50 {
            return Err(bad("a broken central directory entry"));
        }
        let (flags, method, crc) = (s(8)?, s(10)?, h(16)?);
        let (mut csize, mut usize_, mut local) = (h(20)? as u64, h(24)? as u64, h(42)? as u64);
        let (nlen, elen, clen) = (s(28)?, s(30)?, s(32)?);
        let name_end = at + 46 + nlen;
        let next = name_end + elen + clen;
        if next > cd_end {
            return Err(bad("a central directory entry runs past its end"));
        }
        let name = std::str::from_utf8(&file[at + 46..name_end]).map_err(|_| bad("an entry name is not UTF-8"))?;
        // Zip64 extra field: the 64-bit values of the fields set to 0xffffffff, in order.
        let mut extra = &file[name_end..name_end + elen];
        while extra.len() >= 4 {
            let (id, len) = (le16(extra, 0).unwrap(), le16(extra, 2).unwrap() as usize);
            let body = extra.get(4..4 + len).ok_or_else(|| bad("a cut extra field"))?;
            if id == 1 {
                let mut p = 0;
                for field in [&mut usize_, &mut csize, &mut local] {
                    if *field == 0xffff_ffff {
                        *field = le64(body, p).ok_or_else(|| bad("a cut zip64 extra field"))?;
                        p += 8;
                    }
                }
            }
            extra = &extra[4 + len..];
        }
        if flags & 1 != 0 {
            return Err(bad(&format!("entry {name} is encrypted")));
        }
        if method != 0 || csize != usize_ {
            return Err(bad(&format!("entry {name} is compressed (method {method}); torch.save stores entries")));
        }
        let local = usize::try_from(local).ok().filter(|&l| l.checked_add(30).is_some_and(|e| e <= file.len()));
        let local = local.ok_or_else(|| bad(&format!("entry {name}'s header is beyond the end of the file")))?;
        if le32(file, local) != Some(0x0403_4b50) {
            return Err(bad(&format!("entry {name} has no local header")));
        }
        let start = local + 30 + le16(file, local + 26).unwrap() as usize + le16(file, local + 28).unwrap() as usize;
        let end = (start as u64).checked_add(csize).filter(|&e| e <= cd_off as u64);
        let Some(end) = end else {
            return Err(bad(&format!("entry {name} declares {csize} bytes beyond the end of its data")));
        };
        let data = &file[start..end as usize];
        if crc32(data) != crc {
            return Err(bad(&format!("entry {name} fails its CRC check (a damaged file)")));
        }
        if !names.insert(name) {
            return Err(bad(&format!("entry {name} appears twice")));
        }
        out.push((name.to_string(), data));
        at = next;
    }
    Ok(out)
}

/// One STORED entry, its data aligned to 64 bytes (as PyTorch aligns its
/// records, so that they can be memory-mapped).
struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

impl ZipWriter {
    fn add(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let too_big = || err("the archive would exceed 4 GiB (the writer does not write zip64)");
        let offset = u32::try_from(self.out.len()).map_err(|_| too_big())?;
        let size = u32::try_from(data.len()).map_err(|_| too_big())?;
        self.count = self.count.checked_add(1).filter(|&c| c < 0xffff).ok_or_else(|| err("too many tensors"))?;
        let crc = crc32(data);
        let base = self.out.len() + 30 + name.len() + 4;
        let pad = (64 - base % 64) % 64;
        let common = |v: &mut Vec<u8>, extra_len: u16| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // STORED
            v.extend_from_slice(&0u16.to_le_bytes()); // time
            v.extend_from_slice(&0x21u16.to_le_bytes()); // date: 1980-01-01
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&extra_len.to_le_bytes());
        };
        self.out.extend_from_slice(b"PK\x03\x04");
        common(&mut self.out, 4 + pad as u16);
        self.out.extend_from_slice(name.as_bytes());
        // A padding extra field (id 0x7470, unassigned).
        self.out.extend_from_slice(&0x7470u16.to_le_bytes());
        self.out.extend_from_slice(&(pad as u16).to_le_bytes());
        self.out.resize(self.out.len() + pad, 0);
        self.out.extend_from_slice(data);
        self.central.extend_from_slice(b"PK\x01\x02");
        self.central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        common(&mut self.central, 0);
        self.central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        self.central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        self.central.extend_from_slice(&offset.to_le_bytes());
        self.central.extend_from_slice(name.as_bytes());
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>> {
        let too_big = || err("the archive would exceed 4 GiB (the writer does not write zip64)");
        let cd_off = u32::try_from(self.out.len()).map_err(|_| too_big())?;
        let cd_size = u32::try_from(self.central.len()).map_err(|_| too_big())?;
        self.out.extend_from_slice(&self.central);
        u32::try_from(self.out.len()).map_err(|_| too_big())?;
        self.out.extend_from_slice(b"PK\x05\x06");
        self.out.extend_from_slice(&[0; 4]);
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&self.count.to_le_bytes());
        self.out.extend_from_slice(&cd_size.to_le_bytes());
        self.out.extend_from_slice(&cd_off.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        Ok(self.out)
    }
}

// ---------------------------------------------------------------------------
// The torch.save layout
// ---------------------------------------------------------------------------

/// Reads a `torch.save` archive from memory: the whole value or an error,
/// never part of it.
pub fn read(file: &[u8]) -> Result<Value> {
    let entries = entries(file)?;
    let pkls: Vec<&str> = entries.iter().filter_map(|(n, _)| n.strip_suffix("data.pkl")).collect();
    let prefix = match pkls.as_slice() {
        [p] if p.is_empty() || (p.ends_with('/') && p.matches('/').count() == 1) => p.to_string(),
        [] => return Err(err("not a torch.save archive: no data.pkl")),
        _ => return Err(err("not a torch.save archive: data.pkl is not in one top-level folder")),
    };
    let by_name: HashMap<&str, &[u8]> = entries.iter().map(|(n, d)| (n.as_str(), *d)).collect();
    let find = |name: &str| by_name.get(format!("{prefix}{name}").as_str()).copied();
    if let Some(order) = find("byteorder") {
        if order != b"little" {
            let shown = String::from_utf8_lossy(&order[..order.len().min(16)]).into_owned();
            return Err(err(format!("byteorder {shown:?} is not supported (only little-endian files)")));
        }
    }
    let pkl = find("data.pkl").unwrap();
    let mut loaded: HashMap<String, (DType, Arc<[u8]>)> = HashMap::new();
    pickle::read_budgeted(pkl, file.len() as u64, &mut |s: &StorageRef| {
        if let Some((d, bytes)) = loaded.get(&s.key) {
            if *d != s.dtype {
                return Err(err(format!("storage {} is used as {d:?} and as {:?}", s.key, s.dtype)));
            }
            return Ok((*d, bytes.clone()));
        }
        let data = find(&format!("data/{}", s.key))
            .ok_or_else(|| err(format!("tensor storage data/{} is missing from the archive", s.key)))?;
        let expected = s.numel.checked_mul(s.dtype.size() as u64);
        if expected != Some(data.len() as u64) {
            return Err(err(format!(
                "storage data/{} declares {} {:?} elements but holds {} bytes",
                s.key,
                s.numel,
                s.dtype,
                data.len()
            )));
        }
        let bytes: Arc<[u8]> = data.into();
        loaded.insert(s.key.clone(), (s.dtype, bytes.clone()));
        Ok((s.dtype, bytes))
    })
}

/// Writes `value` as a `torch.save` archive (named `archive`, as PyTorch
/// names one saved to a buffer). Tensors sharing a storage share its record.
pub fn write(value: &Value) -> Result<Vec<u8>> {
    let mut storages: Vec<Arc<[u8]>> = Vec::new();
    let pkl = pickle::write_with(value, &mut |t: &TensorRecord| {
        let at = storages.iter().position(|s| Arc::ptr_eq(s, t.storage())).unwrap_or_else(|| {
            storages.push(t.storage().clone());
            storages.len() - 1
        });
        at.to_string()
    })?;
    let mut zip = ZipWriter { out: Vec::new(), central: Vec::new(), count: 0 };
    zip.add("archive/data.pkl", &pkl)?;
    zip.add("archive/.format_version", b"1")?;
    zip.add("archive/.storage_alignment", b"64")?;
    zip.add("archive/byteorder", b"little")?;
    for (i, s) in storages.iter().enumerate() {
        zip.add(&format!("archive/data/{i}"), s)?;
    }
    zip.add("archive/version", b"3\n")?;
    zip.finish()
}

// ---------------------------------------------------------------------------
// tch
// ---------------------------------------------------------------------------

fn kind(d: DType) -> tch::Kind {
    use tch::Kind as K;
    match d {
        DType::Float32 => K::Float,
        DType::Float64 => K::Double,
        DType::Float16 => K::Half,
        DType::BFloat16 => K::BFloat16,
        DType::Int64 => K::Int64,
        DType::Int32 => K::Int,
        DType::Int16 => K::Int16,
        DType::Int8 => K::Int8,
        DType::UInt8 => K::Uint8,
        DType::Bool => K::Bool,
    }
}

/// The record as a contiguous CPU `tch::Tensor` (a copy; `requires_grad` is
/// not set: a tensor loaded into an optimizer or a `VarStore` gets it there).
pub fn to_tch(t: &TensorRecord) -> Result<tch::Tensor> {
    Ok(tch::Tensor::f_from_data_size(&t.contiguous_bytes(), t.shape(), kind(t.dtype()))?)
}

/// A record of `t` (copied to the CPU, contiguous), on any device.
pub fn from_tch(t: &tch::Tensor) -> Result<TensorRecord> {
    let k = t.f_kind()?;
    let dtype = DType::ALL
        .into_iter()
        .find(|&d| kind(d) == k)
        .ok_or_else(|| err(format!("a tensor of kind {k:?} cannot be written to a torch.save file")))?;
    let c = t.f_to_device(tch::Device::Cpu)?.f_contiguous()?;
    let numel = c.numel();
    let mut data = vec![0u8; numel * dtype.size()];
    c.f_copy_data_u8(&mut data, numel)?;
    let mut r = TensorRecord::contiguous(dtype, c.size(), data)?;
    r.requires_grad = t.requires_grad();
    Ok(r)
}
