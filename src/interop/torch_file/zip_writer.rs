//! A zip archive of STORED entries, as `torch.save` writes it: each entry's
//! data aligned to 64 bytes (so that PyTorch can memory-map its records), no
//! zip64 (an archive of 4 GiB or more is refused).

use super::records::{
    CentralHeader, EndOfCentralDirectory, LocalHeader, EXTRA_HEADER, PADDING_EXTRA_ID, STORED, VERSION,
};
use crate::error::{Error, Result};

/// What PyTorch aligns each record's data to.
const ALIGNMENT: usize = 64;
/// The MS-DOS date written: 1980-01-01.
const DATE: u16 = 0x21;

/// The archive so far: the entries' headers and data, and their central headers.
#[derive(Default)]
pub(super) struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

fn too_big() -> Error {
    Error::torch_file("the archive would exceed 4 GiB (the writer does not write zip64)")
}

impl ZipWriter {
    /// Adds the entry `name` holding `data`.
    pub(super) fn add(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let offset = u32::try_from(self.out.len()).map_err(|_| too_big())?;
        let size = u32::try_from(data.len()).map_err(|_| too_big())?;
        let name_len = u16::try_from(name.len()).map_err(|_| Error::torch_file("an entry name of 64 KiB or more"))?;
        self.count =
            self.count.checked_add(1).filter(|&c| c < u16::MAX).ok_or_else(|| Error::torch_file("too many tensors"))?;
        let crc = crc32fast::hash(data);
        let base = self.out.len() + LocalHeader::SIZE + name.len() + EXTRA_HEADER;
        let pad = (ALIGNMENT - base % ALIGNMENT) % ALIGNMENT;
        LocalHeader {
            needed: VERSION,
            flags: 0,
            method: STORED,
            time: 0,
            date: DATE,
            crc,
            compressed_size: size,
            size,
            name_len,
            extra_len: (EXTRA_HEADER + pad) as u16,
        }
        .write(&mut self.out);
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(&PADDING_EXTRA_ID.to_le_bytes());
        self.out.extend_from_slice(&(pad as u16).to_le_bytes());
        self.out.resize(self.out.len() + pad, 0);
        self.out.extend_from_slice(data);
        CentralHeader {
            made_by: VERSION,
            needed: VERSION,
            method: STORED,
            date: DATE,
            crc,
            compressed_size: size,
            size,
            name_len,
            local_offset: offset,
            ..Default::default()
        }
        .write(&mut self.central);
        self.central.extend_from_slice(name.as_bytes());
        Ok(())
    }

    /// The whole archive: the entries, the central directory and the end record.
    pub(super) fn finish(mut self) -> Result<Vec<u8>> {
        let directory_offset = u32::try_from(self.out.len()).map_err(|_| too_big())?;
        let directory_size = u32::try_from(self.central.len()).map_err(|_| too_big())?;
        self.out.extend_from_slice(&self.central);
        u32::try_from(self.out.len()).map_err(|_| too_big())?;
        EndOfCentralDirectory {
            entries_on_disk: self.count,
            entries: self.count,
            directory_size,
            directory_offset,
            ..Default::default()
        }
        .write(&mut self.out);
        Ok(self.out)
    }
}
