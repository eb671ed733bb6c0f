//! The `torch.save` layout over a zip archive's entries: `<name>/data.pkl`
//! (the pickle), `<name>/byteorder` (`little`) and `<name>/data/<key>` (one
//! record per storage); the other entries (`version`, markers) are not read.

use std::collections::HashMap;

use super::directory::{self, Entry, Source};
use crate::error::{Error, Result};
use crate::interop::pickle;
use crate::interop::storage::Storage;
use crate::interop::tensor::{DType, StorageRef};
use crate::interop::value::Value;

/// An archive's entries, found by name within its one top-level folder.
pub(super) struct Layout<'s> {
    src: &'s dyn Source,
    entries: HashMap<String, Entry>,
    prefix: String,
    pickle: Entry,
}

fn refuse(msg: impl AsRef<str>) -> Error {
    Error::torch_file(msg)
}

impl<'s> Layout<'s> {
    /// The layout of `entries` (of `src`): exactly one `data.pkl`, at the top
    /// or in one top-level folder.
    pub(super) fn new(src: &'s dyn Source, entries: Vec<Entry>) -> Result<Self> {
        let pkls: Vec<&str> = entries.iter().filter_map(|e| e.name.strip_suffix("data.pkl")).collect();
        let prefix = match pkls.as_slice() {
            [p] if p.is_empty() || (p.ends_with('/') && p.matches('/').count() == 1) => p.to_string(),
            [] => return Err(refuse("not a torch.save archive: no data.pkl")),
            _ => return Err(refuse("not a torch.save archive: data.pkl is not in one top-level folder")),
        };
        let pickle = entries.iter().find(|e| e.name == format!("{prefix}data.pkl")).cloned();
        let pickle = pickle.ok_or_else(|| refuse("not a torch.save archive: no data.pkl"))?;
        let entries = entries.into_iter().map(|e| (e.name.clone(), e)).collect();
        Ok(Layout { src, entries, prefix, pickle })
    }

    fn find(&self, name: &str) -> Option<&Entry> {
        self.entries.get(&format!("{}{name}", self.prefix))
    }

    /// The pickle's value; each storage it refers to is made by `storage`
    /// from its entry (once per storage: views share it).
    pub(super) fn decode(&self, storage: &mut dyn FnMut(&Entry) -> Result<Storage>) -> Result<Value> {
        if let Some(e) = self.find("byteorder") {
            let order = directory::data(self.src, e)?;
            if *order != *b"little" {
                let shown = String::from_utf8_lossy(&order[..order.len().min(16)]).into_owned();
                return Err(refuse(format!("byteorder {shown:?} is not supported (only little-endian files)")));
            }
        }
        let pkl = directory::data(self.src, &self.pickle)?;
        let mut loaded: HashMap<String, (DType, Storage)> = HashMap::new();
        pickle::read_budgeted(&pkl, self.src.len(), &mut |s: &StorageRef| {
            if let Some((d, st)) = loaded.get(&s.key) {
                if *d != s.dtype {
                    return Err(refuse(format!("storage {} is used as {d:?} and as {:?}", s.key, s.dtype)));
                }
                return Ok((*d, st.clone()));
            }
            let e = self
                .find(&format!("data/{}", s.key))
                .ok_or_else(|| refuse(format!("tensor storage data/{} is missing from the archive", s.key)))?;
            if s.numel.checked_mul(s.dtype.size() as u64) != Some(e.size as u64) {
                return Err(refuse(format!(
                    "storage data/{} declares {} {:?} elements but holds {} bytes",
                    s.key, s.numel, s.dtype, e.size
                )));
            }
            let st = storage(e)?;
            loaded.insert(s.key.clone(), (s.dtype, st.clone()));
            Ok((s.dtype, st))
        })
    }
}
