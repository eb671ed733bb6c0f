//! A zip archive's entries: its end record (and zip64's, when it has one), its
//! central directory and each entry's local header, read from a [`Source`]
//! (bytes in memory, or a file read at offsets). Every offset and size is
//! checked against the source's real length before it is used; no entry's
//! data is read here ([`data`] reads one, checking its CRC-32).

use std::borrow::Cow;
use std::collections::HashSet;

use super::records::{
    CentralHeader, EndOfCentralDirectory, LocalHeader, Zip64End, Zip64Locator, EXTRA_HEADER, FLAG_ENCRYPTED,
    MAX_COMMENT, STORED, ZIP64_EXTRA_ID, ZIP64_U16, ZIP64_U32,
};
use crate::error::{Error, Result};
use crate::interop::storage::OpenFile;

/// The most entries an archive may list.
pub const MAX_ENTRIES: usize = 1 << 20;

/// Where an archive's bytes come from.
pub(super) trait Source {
    /// Its length in bytes.
    fn len(&self) -> u64;
    /// The `n` bytes at `at` (the caller checked that they lie within [`len`](Self::len)).
    fn read_at(&self, at: u64, n: usize) -> Result<Cow<'_, [u8]>>;
}

/// An archive in memory.
pub(super) struct InMemory<'a>(pub(super) &'a [u8]);

impl Source for InMemory<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, at: u64, n: usize) -> Result<Cow<'_, [u8]>> {
        let at = usize::try_from(at).ok();
        let range = at.and_then(|a| Some(a..a.checked_add(n)?));
        range.and_then(|r| self.0.get(r)).map(Cow::Borrowed).ok_or_else(|| bad("a read beyond the end of the file"))
    }
}

impl Source for OpenFile {
    fn len(&self) -> u64 {
        OpenFile::len(self)
    }
    fn read_at(&self, at: u64, n: usize) -> Result<Cow<'_, [u8]>> {
        OpenFile::read_at(self, at, n).map(Cow::Owned).map_err(Error::torch_file)
    }
}

/// An entry of the archive: where its data is, its length and its CRC-32.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// Its name (`archive/data/0`).
    pub(super) name: String,
    /// Its data's first byte.
    pub(super) offset: u64,
    /// Its data's length.
    pub(super) size: usize,
    /// The CRC-32 the central directory declares.
    pub(super) crc: u32,
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::torch_file(format!("not a torch.save zip archive: {what}"))
}

/// The entries of the archive `src`, in the central directory's order.
pub(super) fn entries(src: &dyn Source) -> Result<Vec<Entry>> {
    let (end_at, end) = find_end(src)?;
    let dir = directory(src, end_at, &end)?;
    let cd = src.read_at(dir.offset, dir.size as usize)?;
    let mut out = Vec::with_capacity(dir.entries as usize);
    let mut names = HashSet::new();
    let mut at = 0;
    for _ in 0..dir.entries {
        let (entry, next) = central_entry(src, dir.offset, &cd, at)?;
        if !names.insert(entry.name.clone()) {
            return Err(bad(format!("entry {} appears twice", entry.name)));
        }
        out.push(entry);
        at = next;
    }
    Ok(out)
}

/// The entry's data, its CRC-32 checked.
pub(super) fn data<'s>(src: &'s dyn Source, e: &Entry) -> Result<Cow<'s, [u8]>> {
    let bytes = src.read_at(e.offset, e.size)?;
    if crc32fast::hash(&bytes) != e.crc {
        return Err(bad(format!("entry {} fails its CRC check (a damaged file)", e.name)));
    }
    Ok(bytes)
}

/// The end of central directory record: its offset and fields.
fn find_end(src: &dyn Source) -> Result<(u64, EndOfCentralDirectory)> {
    let len = src.len();
    let tail_len = len.min((EndOfCentralDirectory::SIZE + MAX_COMMENT) as u64);
    let tail_at = len - tail_len;
    let tail = src.read_at(tail_at, tail_len as usize)?;
    let last = tail.len().checked_sub(EndOfCentralDirectory::SIZE);
    last.and_then(|last| {
        (0..=last).rev().find_map(|i| EndOfCentralDirectory::parse(&tail[i..]).map(|end| (tail_at + i as u64, end)))
    })
    .ok_or_else(|| bad("no end of central directory (a cut or foreign file)"))
}

/// Where the central directory is.
struct Directory {
    entries: u64,
    size: u64,
    offset: u64,
}

/// The central directory the end record at `end_at` declares (or its zip64
/// record), checked against the source's length.
fn directory(src: &dyn Source, end_at: u64, end: &EndOfCentralDirectory) -> Result<Directory> {
    if end.disk != 0 || end.directory_disk != 0 {
        return Err(bad("a split archive"));
    }
    let zip64 = end.entries == ZIP64_U16 || end.directory_size == ZIP64_U32 || end.directory_offset == ZIP64_U32;
    let dir = if zip64 {
        zip64_directory(src, end_at)?
    } else {
        Directory { entries: end.entries.into(), size: end.directory_size.into(), offset: end.directory_offset.into() }
    };
    if dir.offset.checked_add(dir.size).is_none_or(|e| e > src.len()) {
        return Err(bad("central directory beyond the end of the file"));
    }
    let most = (dir.size / CentralHeader::SIZE as u64 + 1).min(MAX_ENTRIES as u64);
    if dir.entries > most {
        return Err(bad(format!("{} entries declared in a central directory of {} bytes", dir.entries, dir.size)));
    }
    Ok(dir)
}

/// The zip64 end record, found through the locator just before the end record.
fn zip64_directory(src: &dyn Source, end_at: u64) -> Result<Directory> {
    let no_locator = || bad("zip64 sizes without a zip64 locator");
    let locator_at = end_at.checked_sub(Zip64Locator::SIZE as u64).ok_or_else(no_locator)?;
    let locator = Zip64Locator::parse(&src.read_at(locator_at, Zip64Locator::SIZE)?).ok_or_else(no_locator)?;
    let at = locator.record_offset;
    if at >= src.len() {
        return Err(bad("zip64 record out of range"));
    }
    let n = (src.len() - at).min(Zip64End::SIZE as u64) as usize;
    let bytes = src.read_at(at, n)?;
    if !bytes.starts_with(&Zip64End::SIGNATURE) {
        return Err(bad("no zip64 end record"));
    }
    let rec = Zip64End::parse(&bytes).ok_or_else(|| bad("cut zip64 end record"))?;
    Ok(Directory { entries: rec.entries, size: rec.directory_size, offset: rec.directory_offset })
}

/// The entry whose central header is at `at` in `cd`, and where the next one starts.
fn central_entry(src: &dyn Source, cd_offset: u64, cd: &[u8], at: usize) -> Result<(Entry, usize)> {
    let h = CentralHeader::parse(&cd[at..]).ok_or_else(|| bad("a broken central directory entry"))?;
    let name_at = at + CentralHeader::SIZE;
    let extra_at = name_at + usize::from(h.name_len);
    let next = extra_at + usize::from(h.extra_len) + usize::from(h.comment_len);
    if next > cd.len() {
        return Err(bad("a central directory entry runs past its end"));
    }
    let name = std::str::from_utf8(&cd[name_at..extra_at]).map_err(|_| bad("an entry name is not UTF-8"))?;
    let [size, compressed, local] = zip64_fields(&h, &cd[extra_at..extra_at + usize::from(h.extra_len)])?;
    if h.flags & FLAG_ENCRYPTED != 0 {
        return Err(bad(format!("entry {name} is encrypted")));
    }
    if h.method != STORED || compressed != size {
        return Err(bad(format!("entry {name} is compressed (method {}); torch.save stores entries", h.method)));
    }
    let offset = data_offset(src, cd_offset, name, local, size)?;
    let size = usize::try_from(size).map_err(|_| bad(format!("entry {name} is beyond this machine's sizes")))?;
    Ok((Entry { name: name.to_string(), offset, size, crc: h.crc }, next))
}

/// The size, compressed size and local header offset, each from the zip64
/// extra field where the header's 32-bit field says so.
fn zip64_fields(h: &CentralHeader, mut extra: &[u8]) -> Result<[u64; 3]> {
    let mut fields = [h.size, h.compressed_size, h.local_offset].map(u64::from);
    while extra.len() >= EXTRA_HEADER {
        let id = u16::from_le_bytes([extra[0], extra[1]]);
        let len = usize::from(u16::from_le_bytes([extra[2], extra[3]]));
        let body = extra.get(EXTRA_HEADER..EXTRA_HEADER + len).ok_or_else(|| bad("a cut extra field"))?;
        if id == ZIP64_EXTRA_ID {
            let mut values = body.chunks(8);
            for field in fields.iter_mut().filter(|f| **f == u64::from(ZIP64_U32)) {
                let value = values.next().and_then(|v| v.try_into().ok()).map(u64::from_le_bytes);
                *field = value.ok_or_else(|| bad("a cut zip64 extra field"))?;
            }
        }
        extra = &extra[EXTRA_HEADER + len..];
    }
    Ok(fields)
}

/// Where the data of the entry whose local header is at `local` starts,
/// checked to end before the central directory.
fn data_offset(src: &dyn Source, cd_offset: u64, name: &str, local: u64, size: u64) -> Result<u64> {
    let header_end = local.checked_add(LocalHeader::SIZE as u64).filter(|&e| e <= src.len());
    let header_end = header_end.ok_or_else(|| bad(format!("entry {name}'s header is beyond the end of the file")))?;
    let h = LocalHeader::parse(&src.read_at(local, LocalHeader::SIZE)?)
        .ok_or_else(|| bad(format!("entry {name} has no local header")))?;
    let start = header_end + u64::from(h.name_len) + u64::from(h.extra_len);
    if start.checked_add(size).is_none_or(|end| end > cd_offset) {
        return Err(bad(format!("entry {name} declares {size} bytes beyond the end of its data")));
    }
    Ok(start)
}
