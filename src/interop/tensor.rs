//! A tensor as a `torch.save` file holds it: an element type, a view (sizes,
//! strides, offset) and the storage it views.

use std::borrow::Cow;

use super::storage::Storage;
use crate::error::{Error, Result};

/// A tensor's element type, as its `torch.*Storage` class names it
/// ([`DType::storage_name`]).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `torch.float32` (`FloatStorage`).
    Float32,
    /// `torch.float64` (`DoubleStorage`).
    Float64,
    /// `torch.float16` (`HalfStorage`).
    Float16,
    /// `torch.bfloat16` (`BFloat16Storage`).
    BFloat16,
    /// `torch.int64` (`LongStorage`).
    Int64,
    /// `torch.int32` (`IntStorage`).
    Int32,
    /// `torch.int16` (`ShortStorage`).
    Int16,
    /// `torch.int8` (`CharStorage`).
    Int8,
    /// `torch.uint8` (`ByteStorage`).
    UInt8,
    /// `torch.bool` (`BoolStorage`).
    Bool,
}

impl DType {
    /// Every dtype, for lookups.
    pub const ALL: [DType; 10] = [
        DType::Float32,
        DType::Float64,
        DType::Float16,
        DType::BFloat16,
        DType::Int64,
        DType::Int32,
        DType::Int16,
        DType::Int8,
        DType::UInt8,
        DType::Bool,
    ];

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Float64 | DType::Int64 => 8,
            DType::Float32 | DType::Int32 => 4,
            DType::Float16 | DType::BFloat16 | DType::Int16 => 2,
            DType::Int8 | DType::UInt8 | DType::Bool => 1,
        }
    }
}

/// The most dimensions a tensor may have.
const MAX_DIMS: usize = 64;

/// A tensor as a `torch.save` file holds it: a view (`shape`, `strides`,
/// `offset`, in elements) into a [`Storage`] of little-endian elements.
/// Tensors that share a storage in the file share `storage` here. Built only
/// through [`TensorRecord::new`], which checks that the view stays inside its
/// storage. A record read by [`torch_file::load`](super::torch_file::load)
/// holds no bytes: [`contiguous_bytes`](Self::contiguous_bytes) reads them.
#[derive(Clone)]
pub struct TensorRecord {
    dtype: DType,
    shape: Vec<i64>,
    strides: Vec<i64>,
    offset: i64,
    storage: Storage,
    /// Whether PyTorch is to rebuild it with `requires_grad=True`.
    pub requires_grad: bool,
}

impl std::fmt::Debug for TensorRecord {
    /// The view and the storage's length, not its bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorRecord")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("strides", &self.strides)
            .field("offset", &self.offset)
            .field("storage_bytes", &self.storage.len())
            .field("requires_grad", &self.requires_grad)
            .finish()
    }
}

impl PartialEq for TensorRecord {
    /// Equal dtype, shape, `requires_grad` and elements (bit for bit), whatever
    /// the layout. A record whose bytes cannot be read (a file damaged since
    /// it was loaded) equals nothing.
    fn eq(&self, o: &Self) -> bool {
        self.dtype == o.dtype
            && self.shape == o.shape
            && self.requires_grad == o.requires_grad
            && matches!((self.contiguous_bytes(), o.contiguous_bytes()), (Ok(a), Ok(b)) if a == b)
    }
}

fn refuse(msg: String) -> Error {
    Error::torch_file(msg)
}

impl TensorRecord {
    /// A view into `storage` (little-endian elements of `dtype`: an
    /// `Arc<[u8]>`, a `Vec<u8>` or a [`Storage`]): refused in one line unless
    /// every element it reaches lies inside the storage.
    pub fn new(
        dtype: DType,
        shape: Vec<i64>,
        strides: Vec<i64>,
        offset: i64,
        storage: impl Into<Storage>,
        requires_grad: bool,
    ) -> Result<Self> {
        let storage = storage.into();
        if shape.len() != strides.len() {
            return Err(refuse(format!("tensor has {} sizes but {} strides", shape.len(), strides.len())));
        }
        if shape.len() > MAX_DIMS {
            return Err(refuse(format!("tensor has {} dimensions (at most {MAX_DIMS})", shape.len())));
        }
        if !storage.len().is_multiple_of(dtype.size()) {
            return Err(refuse(format!(
                "storage of {} bytes is not a whole number of {dtype:?} elements",
                storage.len()
            )));
        }
        let elements = (storage.len() / dtype.size()) as i64;
        check_view(&shape, &strides, offset, elements)?;
        Ok(TensorRecord { dtype, shape, strides, offset, storage, requires_grad })
    }

    /// A contiguous tensor holding `data` (little-endian elements).
    pub fn contiguous(dtype: DType, shape: Vec<i64>, data: Vec<u8>) -> Result<Self> {
        let mut strides = vec![0i64; shape.len()];
        let mut acc = 1i64;
        for (i, &s) in shape.iter().enumerate().rev() {
            strides[i] = acc;
            acc = acc.saturating_mul(s.max(1));
        }
        let numel = shape.iter().try_fold(1usize, |n, &s| usize::try_from(s).ok().and_then(|s| n.checked_mul(s)));
        if numel.and_then(|n| n.checked_mul(dtype.size())) != Some(data.len()) {
            return Err(refuse(format!("{} bytes do not make a {dtype:?} tensor of size {shape:?}", data.len())));
        }
        TensorRecord::new(dtype, shape, strides, 0, data, false)
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The size of each dimension.
    pub fn shape(&self) -> &[i64] {
        &self.shape
    }
    /// The stride of each dimension, in elements.
    pub fn strides(&self) -> &[i64] {
        &self.strides
    }
    /// The first element's index in the storage.
    pub fn offset(&self) -> i64 {
        self.offset
    }
    /// The whole storage (little-endian elements), shared with the other views of it.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }
    /// The number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().map(|&s| s as usize).product()
    }

    /// The elements in row-major order, little-endian (bounds were checked at
    /// construction). A record of a file loaded with
    /// [`torch_file::load`](super::torch_file::load) reads its storage here.
    ///
    /// # Errors
    /// As [`Storage::bytes`]: a file cut, damaged or changed since it was loaded.
    pub fn contiguous_bytes(&self) -> Result<Vec<u8>> {
        let es = self.dtype.size();
        let n = self.numel();
        if n == 0 {
            return Ok(Vec::new());
        }
        let storage = self.storage.bytes()?;
        if self.is_dense() {
            let at = self.offset as usize * es;
            return Ok(match storage {
                // The whole record, read for this view alone: no copy.
                Cow::Owned(all) if at == 0 && all.len() == n * es => all,
                storage => storage[at..at + n * es].to_vec(),
            });
        }
        let mut out = Vec::with_capacity(n * es);
        let mut index = vec![0i64; self.shape.len()];
        for _ in 0..n {
            let pos: i64 = self.offset + index.iter().zip(&self.strides).map(|(i, s)| i * s).sum::<i64>();
            let at = pos as usize * es;
            out.extend_from_slice(&storage[at..at + es]);
            for d in (0..index.len()).rev() {
                index[d] += 1;
                if index[d] < self.shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(out)
    }

    /// Whether the view's elements lie in row-major order, one after another.
    fn is_dense(&self) -> bool {
        let mut expected = 1i64;
        self.shape.iter().zip(&self.strides).rev().all(|(&size, &stride)| {
            let ok = size == 1 || stride == expected;
            expected *= size;
            ok
        })
    }
}

/// Checks that every element of the view lies inside a storage of `elements`.
fn check_view(shape: &[i64], strides: &[i64], offset: i64, elements: i64) -> Result<()> {
    if offset < 0 || shape.iter().any(|&s| s < 0) || strides.iter().any(|&s| s < 0) {
        return Err(refuse(format!("tensor has a negative offset, size or stride: {shape:?} {strides:?} {offset}")));
    }
    let numel = shape.iter().try_fold(1i64, |n, &s| n.checked_mul(s));
    let Some(numel) = numel else {
        return Err(refuse(format!("tensor size {shape:?} overflows")));
    };
    if numel == 0 {
        return Ok(());
    }
    let last = shape
        .iter()
        .zip(strides)
        .try_fold(offset, |acc, (&s, &st)| (s - 1).checked_mul(st).and_then(|x| acc.checked_add(x)));
    match last {
        Some(last) if last < elements => Ok(()),
        _ => Err(refuse(format!(
            "tensor of size {shape:?}, strides {strides:?} and offset {offset} reaches beyond its storage of {elements} elements"
        ))),
    }
}

/// A storage a pickle refers to by persistent id: `("storage", torch.<Type>Storage, key, location, numel)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRef {
    /// The element type.
    pub dtype: DType,
    /// The record's key (`data/<key>` in the archive).
    pub key: String,
    /// The device it was saved from (`"cpu"`, `"cuda:0"`); tch-lr loads to the CPU.
    pub location: String,
    /// The declared number of elements.
    pub numel: u64,
}
