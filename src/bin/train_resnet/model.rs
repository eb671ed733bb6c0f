//! The models of the training example: a CIFAR ResNet-20 (He et al. 2016:
//! 3 stages of 3 basic blocks, 16/32/64 channels) and tch's ResNet-18.
//! Also compiled into `benches/schedulers.rs` (through `#[path]`).

use tch::nn;

/// Which network to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Model {
    /// CIFAR ResNet-20 (0.27 M parameters): fast on a CPU.
    Resnet20,
    /// `tch::vision::resnet::resnet18` (11 M parameters, ImageNet layout).
    Resnet18,
}

/// Builds `model` for `classes` classes under `p`, with the classifier head in
/// parameter group `head_group` (0: one group; 1: backbone and head apart,
/// ResNet-20 only).
pub fn build(model: Model, p: &nn::Path, classes: i64, head_group: usize) -> anyhow::Result<nn::FuncT<'static>> {
    match (model, head_group) {
        (Model::Resnet20, _) => Ok(resnet20_grouped(p, classes, head_group)),
        (Model::Resnet18, 0) => Ok(tch::vision::resnet::resnet18(p, classes)),
        (Model::Resnet18, _) => {
            anyhow::bail!("resnet18 has one parameter group; use --model resnet20 for two (backbone, head)")
        }
    }
}

fn conv(p: nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig { stride, padding: k / 2, bias: false, ..Default::default() };
    nn::conv2d(p, cin, cout, k, cfg)
}

/// tch's `nn::linear` (the same initialization), with its weight created
/// before its bias, as PyTorch registers them: the owned optimizer numbers
/// parameters in creation order, and PyTorch's optimizer state must find the
/// same parameter at the same index.
fn linear(p: &nn::Path, cin: i64, cout: i64) -> nn::Linear {
    let c = nn::LinearConfig::default();
    let ws = p.var("weight", &[cout, cin], c.ws_init);
    let bound = 1.0 / (cin as f64).sqrt();
    let bs = p.var("bias", &[cout], nn::Init::Uniform { lo: -bound, up: bound });
    nn::Linear { ws, bs: Some(bs) }
}

fn block(p: nn::Path, cin: i64, cout: i64, stride: i64) -> nn::FuncT<'static> {
    let c1 = conv(&p / "c1", cin, cout, 3, stride);
    let b1 = nn::batch_norm2d(&p / "b1", cout, Default::default());
    let c2 = conv(&p / "c2", cout, cout, 3, 1);
    let b2 = nn::batch_norm2d(&p / "b2", cout, Default::default());
    let short = (stride != 1 || cin != cout).then(|| {
        let s = &p / "short";
        (conv(&s / 0, cin, cout, 1, stride), nn::batch_norm2d(&s / 1, cout, Default::default()))
    });
    nn::func_t(move |x, train| {
        let y = x.apply(&c1).apply_t(&b1, train).relu().apply(&c2).apply_t(&b2, train);
        let s = match &short {
            Some((c, b)) => x.apply(c).apply_t(b, train),
            None => x.shallow_clone(),
        };
        (y + s).relu()
    })
}

/// ResNet-20 for 3×32×32 images, with 1×1 projection shortcuts. Its
/// variables are named as the PyTorch twin's modules
/// (`scripts/reference/train_resnet_torch.py`): `stem`, `bn`,
/// `blocks.N.{c1,b1,c2,b2}`, `blocks.N.short.{0,1}`, `fc`, so that a PyTorch
/// `state_dict` loads by name.
#[allow(dead_code)] // used by benches/schedulers.rs
pub fn resnet20(p: &nn::Path, classes: i64) -> nn::FuncT<'static> {
    resnet20_grouped(p, classes, 0)
}

fn resnet20_grouped(p: &nn::Path, classes: i64, head_group: usize) -> nn::FuncT<'static> {
    let stem = conv(p / "stem", 3, 16, 3, 1);
    let bn = nn::batch_norm2d(p / "bn", 16, Default::default());
    let mut blocks = Vec::new();
    let mut cin = 16;
    for (stage, cout) in [16, 32, 64].into_iter().enumerate() {
        for i in 0..3 {
            let stride = if stage > 0 && i == 0 { 2 } else { 1 };
            blocks.push(block(p / "blocks" / blocks.len(), cin, cout, stride));
            cin = cout;
        }
    }
    let fc = linear(&(p.set_group(head_group) / "fc"), 64, classes);
    nn::func_t(move |x, train| {
        let mut y = x.apply(&stem).apply_t(&bn, train).relu();
        for b in &blocks {
            y = y.apply_t(b, train);
        }
        y.adaptive_avg_pool2d([1, 1]).flatten(1, -1).apply(&fc)
    })
}
