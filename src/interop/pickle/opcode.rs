//! The pickle opcodes, by the names Python's `pickletools` gives them: what
//! the reader dispatches on and the writer writes.

/// Declares [`Opcode`] from one table: variant, byte, `pickletools` name and
/// the protocol that introduced it.
macro_rules! opcodes {
    ($($(#[doc = $doc:literal])* $variant:ident = $byte:literal, $name:literal, $protocol:literal;)*) => {
        /// Every opcode of pickle protocols 0 to 5. The reader interprets those
        /// `torch.save` writes (protocol 2) and refuses the others by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u8)]
        pub(crate) enum Opcode {
            $($(#[doc = $doc])* $variant = $byte,)*
        }

        impl TryFrom<u8> for Opcode {
            /// A byte that is no opcode.
            type Error = u8;

            fn try_from(byte: u8) -> Result<Self, u8> {
                match byte {
                    $($byte => Ok(Opcode::$variant),)*
                    other => Err(other),
                }
            }
        }

        impl Opcode {
            /// Its name in `pickletools`.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Opcode::$variant => $name,)*
                }
            }

            /// The pickle protocol that introduced it.
            pub(crate) fn protocol(self) -> u8 {
                match self {
                    $(Opcode::$variant => $protocol,)*
                }
            }
        }
    };
}

opcodes! {
    /// Pushes a mark: the start of a run of items (a tuple, list or dict's).
    Mark = b'(', "MARK", 0;
    /// The pickle's end: its value is the top of the stack.
    Stop = b'.', "STOP", 0;
    /// Drops the top of the stack.
    Pop = b'0', "POP", 0;
    /// Drops everything down to the topmost mark, and the mark.
    PopMark = b'1', "POP_MARK", 1;
    /// Pushes the top of the stack again.
    Dup = b'2', "DUP", 0;
    /// A float as decimal text.
    Float = b'F', "FLOAT", 0;
    /// An int as decimal text.
    Int = b'I', "INT", 0;
    /// A 4-byte signed int.
    BinInt = b'J', "BININT", 1;
    /// A 1-byte unsigned int.
    BinInt1 = b'K', "BININT1", 1;
    /// A long as decimal text.
    Long = b'L', "LONG", 0;
    /// A 2-byte unsigned int.
    BinInt2 = b'M', "BININT2", 1;
    /// `None`.
    None = b'N', "NONE", 0;
    /// A persistent id as text.
    PersId = b'P', "PERSID", 0;
    /// A persistent id, the top of the stack (how `torch.save` refers to a storage).
    BinPersId = b'Q', "BINPERSID", 1;
    /// Calls the callable under the top of the stack with the tuple on it.
    Reduce = b'R', "REDUCE", 0;
    /// A `str` (bytes) as quoted text.
    String = b'S', "STRING", 0;
    /// A `str` (bytes) of 4-byte length.
    BinString = b'T', "BINSTRING", 1;
    /// A `str` (bytes) of 1-byte length.
    ShortBinString = b'U', "SHORT_BINSTRING", 1;
    /// A `str` as raw-unicode-escaped text.
    Unicode = b'V', "UNICODE", 0;
    /// A UTF-8 `str` of 4-byte length.
    BinUnicode = b'X', "BINUNICODE", 1;
    /// Appends the top of the stack to the list under it.
    Append = b'a', "APPEND", 0;
    /// Sets an object's state (`__setstate__`, or its `__dict__`).
    Build = b'b', "BUILD", 0;
    /// Pushes `module.name`, two text lines.
    Global = b'c', "GLOBAL", 0;
    /// A dict of the items down to the mark.
    Dict = b'd', "DICT", 0;
    /// An empty dict.
    EmptyDict = b'}', "EMPTY_DICT", 1;
    /// Appends the items down to the mark to the list under them.
    Appends = b'e', "APPENDS", 1;
    /// Pushes a memo entry named by decimal text.
    Get = b'g', "GET", 0;
    /// Pushes the memo entry of a 1-byte index.
    BinGet = b'h', "BINGET", 1;
    /// Builds an instance of a class named by two text lines.
    Inst = b'i', "INST", 0;
    /// Pushes the memo entry of a 4-byte index.
    LongBinGet = b'j', "LONG_BINGET", 1;
    /// A list of the items down to the mark.
    List = b'l', "LIST", 0;
    /// An empty list.
    EmptyList = b']', "EMPTY_LIST", 1;
    /// Builds an instance of the class at the mark.
    Obj = b'o', "OBJ", 1;
    /// Stores the top of the stack in the memo, named by decimal text.
    Put = b'p', "PUT", 0;
    /// Stores the top of the stack in the memo at a 1-byte index.
    BinPut = b'q', "BINPUT", 1;
    /// Stores the top of the stack in the memo at a 4-byte index.
    LongBinPut = b'r', "LONG_BINPUT", 1;
    /// Sets a key to a value in the dict under them.
    SetItem = b's', "SETITEM", 0;
    /// A tuple of the items down to the mark.
    Tuple = b't', "TUPLE", 0;
    /// An empty tuple.
    EmptyTuple = b')', "EMPTY_TUPLE", 1;
    /// Sets the key-value pairs down to the mark in the dict under them.
    SetItems = b'u', "SETITEMS", 1;
    /// An 8-byte big-endian float.
    BinFloat = b'G', "BINFLOAT", 1;
    /// The protocol, the pickle's first opcode.
    Proto = 0x80, "PROTO", 2;
    /// Builds an instance with `cls.__new__`.
    NewObj = 0x81, "NEWOBJ", 2;
    /// An object of the extension registry, 1-byte code.
    Ext1 = 0x82, "EXT1", 2;
    /// An object of the extension registry, 2-byte code.
    Ext2 = 0x83, "EXT2", 2;
    /// An object of the extension registry, 4-byte code.
    Ext4 = 0x84, "EXT4", 2;
    /// A tuple of the top item.
    Tuple1 = 0x85, "TUPLE1", 2;
    /// A tuple of the top two items.
    Tuple2 = 0x86, "TUPLE2", 2;
    /// A tuple of the top three items.
    Tuple3 = 0x87, "TUPLE3", 2;
    /// `True`.
    NewTrue = 0x88, "NEWTRUE", 2;
    /// `False`.
    NewFalse = 0x89, "NEWFALSE", 2;
    /// A little-endian two's-complement int of 1-byte length.
    Long1 = 0x8a, "LONG1", 2;
    /// A little-endian two's-complement int of 4-byte length.
    Long4 = 0x8b, "LONG4", 2;
    /// `bytes` of 4-byte length.
    BinBytes = b'B', "BINBYTES", 3;
    /// `bytes` of 1-byte length.
    ShortBinBytes = b'C', "SHORT_BINBYTES", 3;
    /// A UTF-8 `str` of 1-byte length.
    ShortBinUnicode = 0x8c, "SHORT_BINUNICODE", 4;
    /// A UTF-8 `str` of 8-byte length.
    BinUnicode8 = 0x8d, "BINUNICODE8", 4;
    /// `bytes` of 8-byte length.
    BinBytes8 = 0x8e, "BINBYTES8", 4;
    /// An empty set.
    EmptySet = 0x8f, "EMPTY_SET", 4;
    /// Adds the items down to the mark to the set under them.
    AddItems = 0x90, "ADDITEMS", 4;
    /// A frozenset of the items down to the mark.
    FrozenSet = 0x91, "FROZENSET", 4;
    /// Builds an instance with `cls.__new__(*args, **kwargs)`.
    NewObjEx = 0x92, "NEWOBJ_EX", 4;
    /// Pushes `module.name` from the two strings on the stack.
    StackGlobal = 0x93, "STACK_GLOBAL", 4;
    /// Stores the top of the stack in the memo at the next index.
    Memoize = 0x94, "MEMOIZE", 4;
    /// The length of the next frame.
    Frame = 0x95, "FRAME", 4;
    /// A `bytearray` of 8-byte length.
    ByteArray8 = 0x96, "BYTEARRAY8", 5;
    /// An out-of-band buffer.
    NextBuffer = 0x97, "NEXT_BUFFER", 5;
    /// Makes the top buffer read-only.
    ReadOnlyBuffer = 0x98, "READONLY_BUFFER", 5;
}

#[cfg(test)]
mod tests {
    use super::Opcode;

    #[test]
    fn every_byte_is_one_opcode_or_none() {
        let named: Vec<Opcode> = (0..=255u8).filter_map(|b| Opcode::try_from(b).ok()).collect();
        assert_eq!(named.len(), 68, "pickletools names 68 opcodes");
        for op in named {
            assert_eq!(Opcode::try_from(op as u8), Ok(op));
            assert!(
                op.protocol() <= 5
                    && op.name().chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            );
        }
        assert_eq!(Opcode::try_from(0x93).map(Opcode::name), Ok("STACK_GLOBAL"));
        assert_eq!(Opcode::try_from(0xff), Err(0xff));
    }
}
