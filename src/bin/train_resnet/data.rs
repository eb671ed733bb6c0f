//! The data: CIFAR-10's binary files, or an embedded synthetic dataset that
//! needs no download (10 classes of 32×32 colour patterns under noise).

use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};

/// Images `[n, 3, 32, 32]` (float, normalized) and labels `[n]` (int64).
pub struct Split {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Split {
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }

    pub fn to(&self, device: Device) -> Split {
        Split { images: self.images.to_device(device), labels: self.labels.to_device(device) }
    }
}

/// The training and test splits.
pub struct Data {
    pub train: Split,
    pub test: Split,
    pub source: String,
}

/// The embedded default dataset: each class is a fixed random 8×8 colour
/// pattern (upsampled to 32×32); each image is its class pattern, shifted
/// (with wrap-around) by a random offset, under Gaussian noise 2.5 times the
/// pattern's scale. Learnable, but not in one epoch.
pub fn synthetic(train: i64, test: i64, seed: i64) -> Data {
    tch::manual_seed(seed);
    let patterns = Tensor::randn([10, 3, 8, 8], (Kind::Float, Device::Cpu)).upsample_nearest2d([32, 32], None, None);
    let make = |n: i64| {
        let labels = Tensor::randint(10, [n], (Kind::Int64, Device::Cpu));
        // Shift each block of 16 images by its own random offset (wrapping), so
        // that the network has to learn the patterns, not the pixels.
        let shifted: Vec<Tensor> = patterns
            .index_select(0, &labels)
            .split(16, 0)
            .into_iter()
            .map(|chunk| {
                let d =
                    Vec::<i64>::try_from(Tensor::randint(32, [2], (Kind::Int64, Device::Cpu))).unwrap_or(vec![0, 0]);
                chunk.roll(d.as_slice(), [2, 3])
            })
            .collect();
        let noise = Tensor::randn([n, 3, 32, 32], (Kind::Float, Device::Cpu)) * 2.5;
        Split { images: Tensor::cat(&shifted, 0) + noise, labels }
    };
    let train = make(train);
    let test = make(test);
    Data { train, test, source: "embedded synthetic data (10 classes)".into() }
}

const RECORD: usize = 1 + 3 * 32 * 32;
const TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];

/// Reads one file of CIFAR-10 records (a label byte, then 3072 pixel bytes).
/// Any number of records: tch's `cifar::load_dir` insists on 10,000 per file.
fn read_records(path: &Path) -> Result<(Tensor, Tensor)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        bail!(
            "{}: {} bytes is not a whole number of CIFAR-10 records ({RECORD} bytes each)",
            path.display(),
            bytes.len()
        );
    }
    let n = (bytes.len() / RECORD) as i64;
    let all = Tensor::from_slice(&bytes).view([n, RECORD as i64]);
    let labels = all.select(1, 0).to_kind(Kind::Int64);
    if labels.max().int64_value(&[]) > 9 {
        bail!("{}: a label above 9: not CIFAR-10", path.display());
    }
    let images = all.narrow(1, 1, RECORD as i64 - 1).view([n, 3, 32, 32]).to_kind(Kind::Float) / 255.0;
    Ok((images, labels))
}

/// CIFAR-10 from `dir` (the binary version: `data_batch_1.bin` ..
/// `data_batch_5.bin`, `test_batch.bin`), normalized per channel.
pub fn cifar10(dir: &Path) -> Result<Data> {
    if !dir.is_dir() {
        bail!(
            "--data {}: no such directory (it should hold CIFAR-10's binary files: {}, test_batch.bin)",
            dir.display(),
            TRAIN_FILES.join(", ")
        );
    }
    let missing: Vec<&str> =
        TRAIN_FILES.iter().chain(&["test_batch.bin"]).copied().filter(|f| !dir.join(f).is_file()).collect();
    if !missing.is_empty() {
        bail!(
            "--data {}: missing {} (CIFAR-10 binary version, https://www.cs.toronto.edu/~kriz/cifar.html)",
            dir.display(),
            missing.join(", ")
        );
    }
    let (images, labels): (Vec<Tensor>, Vec<Tensor>) =
        TRAIN_FILES.iter().map(|f| read_records(&dir.join(f))).collect::<Result<Vec<_>>>()?.into_iter().unzip();
    let (test_images, test_labels) = read_records(&dir.join("test_batch.bin"))?;
    let mean = Tensor::from_slice(&[0.4914f32, 0.4822, 0.4465]).view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&[0.2470f32, 0.2435, 0.2616]).view([1, 3, 1, 1]);
    let norm = |t: Tensor| (t - &mean) / &std;
    Ok(Data {
        train: Split { images: norm(Tensor::cat(&images, 0)), labels: Tensor::cat(&labels, 0) },
        test: Split { images: norm(test_images), labels: test_labels },
        source: format!("CIFAR-10 from {}", dir.display()),
    })
}

/// The order of the training samples in `epoch`: a permutation seeded by the
/// run's seed and the epoch, so that a resumed run sees the same batches.
pub fn epoch_order(n: i64, seed: i64, epoch: usize) -> Tensor {
    tch::manual_seed(seed.wrapping_mul(1_000_003).wrapping_add(epoch as i64));
    Tensor::randperm(n, (Kind::Int64, Device::Cpu))
}
