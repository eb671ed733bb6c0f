//! A [`TensorRecord`] to and from a `tch::Tensor`.

use crate::error::{Error, Result};
use crate::interop::tensor::{DType, TensorRecord};

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
/// A record of a file loaded with [`load`](super::load) reads its bytes here.
///
/// # Errors
/// [`Error::TorchFile`] when the record's bytes cannot be read (the file
/// cut, damaged or changed since it was loaded); [`Error::Tch`].
pub fn to_tch(t: &TensorRecord) -> Result<tch::Tensor> {
    Ok(tch::Tensor::f_from_data_size(&t.contiguous_bytes()?, t.shape(), kind(t.dtype()))?)
}

/// A record of `t` (copied to the CPU, contiguous), on any device.
pub fn from_tch(t: &tch::Tensor) -> Result<TensorRecord> {
    let k = t.f_kind()?;
    let dtype = DType::ALL
        .into_iter()
        .find(|&d| kind(d) == k)
        .ok_or_else(|| Error::torch_file(format!("a tensor of kind {k:?} cannot be written to a torch.save file")))?;
    let c = t.f_to_device(tch::Device::Cpu)?.f_contiguous()?;
    let numel = c.numel();
    let mut data = vec![0u8; numel * dtype.size()];
    c.f_copy_data_u8(&mut data, numel)?;
    let mut r = TensorRecord::contiguous(dtype, c.size(), data)?;
    r.requires_grad = t.requires_grad();
    Ok(r)
}
