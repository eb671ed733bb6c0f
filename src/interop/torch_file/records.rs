//! The zip records `torch.save` archives hold (PKWARE's APPNOTE.TXT, section
//! 4.3), each declared once as its fields in order: the reader parses and the
//! writer writes the same declaration.

/// A little-endian field of a record.
trait Field: Copy {
    const SIZE: usize;
    /// Reads it at `at` (the caller checked the record's length).
    fn read(b: &[u8], at: usize) -> Self;
    fn write(self, out: &mut Vec<u8>);
}

macro_rules! fields {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn read(b: &[u8], at: usize) -> Self {
                <$t>::from_le_bytes(b[at..at + Self::SIZE].try_into().expect("a field of its size"))
            }
            fn write(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
fields!(u16, u32, u64);

/// Declares a record: its signature and its fields in order, with
/// `SIZE` (signature included), `parse` and `write`.
macro_rules! record {
    ($(#[doc = $doc:literal])* $name:ident = $signature:literal {
        $($(#[doc = $field_doc:literal])* $field:ident: $t:ty,)*
    }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub(super) struct $name {
            $($(#[doc = $field_doc])* pub(super) $field: $t,)*
        }

        impl $name {
            pub(super) const SIGNATURE: [u8; 4] = *$signature;
            /// The fixed part's length, signature included.
            pub(super) const SIZE: usize = 4 $(+ <$t as Field>::SIZE)*;

            /// The record at the start of `b`: `None` unless `b` starts with
            /// its signature and holds its fixed part.
            pub(super) fn parse(b: &[u8]) -> Option<Self> {
                if b.len() < Self::SIZE || b[..4] != Self::SIGNATURE {
                    return None;
                }
                let mut at = 4;
                $(
                    let $field = <$t as Field>::read(b, at);
                    at += <$t as Field>::SIZE;
                )*
                debug_assert_eq!(at, Self::SIZE);
                Some($name { $($field,)* })
            }

            /// Appends the signature and the fields.
            #[allow(dead_code)] // The writer writes no zip64 record (the tests do).
            pub(super) fn write(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&Self::SIGNATURE);
                $(self.$field.write(out);)*
            }
        }
    };
}

record! {
    /// The end of central directory record (4.3.16), the last record of the
    /// file but for its comment.
    EndOfCentralDirectory = b"PK\x05\x06" {
        /// This disk's number (0: the archive is not split).
        disk: u16,
        /// The disk the central directory starts on.
        directory_disk: u16,
        /// The entries on this disk.
        entries_on_disk: u16,
        /// The entries (`0xffff`: in the zip64 record).
        entries: u16,
        /// The central directory's length (`0xffffffff`: in the zip64 record).
        directory_size: u32,
        /// The central directory's offset (`0xffffffff`: in the zip64 record).
        directory_offset: u32,
        /// The comment's length.
        comment_len: u16,
    }
}

record! {
    /// The zip64 end of central directory locator (4.3.15), just before the
    /// end record.
    Zip64Locator = b"PK\x06\x07" {
        /// The disk of the zip64 end record.
        disk: u32,
        /// The zip64 end record's offset.
        record_offset: u64,
        /// The number of disks.
        disks: u32,
    }
}

record! {
    /// The zip64 end of central directory record (4.3.14), its fixed part.
    Zip64End = b"PK\x06\x06" {
        /// The record's length after this field.
        record_size: u64,
        /// The version that made it.
        made_by: u16,
        /// The version needed to read it.
        needed: u16,
        /// This disk's number.
        disk: u32,
        /// The disk the central directory starts on.
        directory_disk: u32,
        /// The entries on this disk.
        entries_on_disk: u64,
        /// The entries.
        entries: u64,
        /// The central directory's length.
        directory_size: u64,
        /// The central directory's offset.
        directory_offset: u64,
    }
}

record! {
    /// A central directory file header (4.3.12), followed by the name, the
    /// extra field and the comment.
    CentralHeader = b"PK\x01\x02" {
        /// The version that made it.
        made_by: u16,
        /// The version needed to extract it.
        needed: u16,
        /// Flags (bit 0: encrypted).
        flags: u16,
        /// The compression method (0: stored).
        method: u16,
        /// The MS-DOS time.
        time: u16,
        /// The MS-DOS date.
        date: u16,
        /// The data's CRC-32.
        crc: u32,
        /// The data's length as stored (`0xffffffff`: in the zip64 extra field).
        compressed_size: u32,
        /// The data's length (`0xffffffff`: in the zip64 extra field).
        size: u32,
        /// The name's length.
        name_len: u16,
        /// The extra field's length.
        extra_len: u16,
        /// The comment's length.
        comment_len: u16,
        /// The disk the entry starts on.
        disk: u16,
        /// Internal attributes.
        internal_attributes: u16,
        /// External attributes.
        external_attributes: u32,
        /// The local header's offset (`0xffffffff`: in the zip64 extra field).
        local_offset: u32,
    }
}

record! {
    /// A local file header (4.3.7), followed by the name, the extra field and
    /// the data.
    LocalHeader = b"PK\x03\x04" {
        /// The version needed to extract it.
        needed: u16,
        /// Flags.
        flags: u16,
        /// The compression method.
        method: u16,
        /// The MS-DOS time.
        time: u16,
        /// The MS-DOS date.
        date: u16,
        /// The data's CRC-32.
        crc: u32,
        /// The data's length as stored.
        compressed_size: u32,
        /// The data's length.
        size: u32,
        /// The name's length.
        name_len: u16,
        /// The extra field's length.
        extra_len: u16,
    }
}

/// Flag bit 0: the entry is encrypted.
pub(super) const FLAG_ENCRYPTED: u16 = 1;
/// Compression method 0: stored, as `torch.save` writes every entry.
pub(super) const STORED: u16 = 0;
/// The version this writer needs (2.0) and says it was made by.
pub(super) const VERSION: u16 = 20;
/// The extra field that holds zip64 sizes and offsets (4.5.3).
pub(super) const ZIP64_EXTRA_ID: u16 = 0x0001;
/// The extra field this writer pads with, to align data (unassigned by APPNOTE).
pub(super) const PADDING_EXTRA_ID: u16 = 0x7470;
/// An extra field's header: its id and its length, two `u16`s.
pub(super) const EXTRA_HEADER: usize = 4;
/// A 16-bit count that says "see the zip64 record".
pub(super) const ZIP64_U16: u16 = 0xffff;
/// A 32-bit size or offset that says "see the zip64 record or extra field".
pub(super) const ZIP64_U32: u32 = 0xffff_ffff;
/// The longest comment an end record may have (its length is a `u16`).
pub(super) const MAX_COMMENT: usize = u16::MAX as usize;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_appnotes() {
        assert_eq!(EndOfCentralDirectory::SIZE, 22);
        assert_eq!(Zip64Locator::SIZE, 20);
        assert_eq!(Zip64End::SIZE, 56);
        assert_eq!(CentralHeader::SIZE, 46);
        assert_eq!(LocalHeader::SIZE, 30);
    }

    #[test]
    fn records_write_what_they_parse() {
        let h = CentralHeader { crc: 0xdead_beef, name_len: 7, local_offset: 99, ..Default::default() };
        let mut b = Vec::new();
        h.write(&mut b);
        assert_eq!(b.len(), CentralHeader::SIZE);
        assert_eq!(CentralHeader::parse(&b), Some(h));
        assert_eq!(CentralHeader::parse(&b[..45]), None);
        assert_eq!(LocalHeader::parse(&b), None, "another signature");
    }
}
