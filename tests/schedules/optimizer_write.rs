//! The owned optimizer's write path (`Optim::sync` on `Optim::owned`: every
//! group's LR, momentum or beta1, and weight decay in one call into
//! libtorch's options): values written per group reach libtorch, group by
//! group. Two groups given different LRs, betas (beta1 for Adam and AdamW,
//! momentum for SGD and RMSprop) and weight decays through the write path
//! train exactly as two optimizers built with those values, one per parameter.

use tch::nn::{self, Init, VarStore};
use tch::{Device, Kind, Tensor};
use tch_lr::optim::OptimizerSpec;
use tch_lr::Optim;

fn grad_step(opt: &mut Optim, ps: &[&Tensor], k: usize) {
    let loss = ps
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (*p * ((Tensor::arange(3, (Kind::Float, Device::Cpu)) + (k + i) as f64) * 0.3).sin()).sum(Kind::Float)
        })
        .sum::<Tensor>();
    opt.backward_step(&loss);
}

/// Trains `config` over two parameters: one optimizer with both in two groups
/// (the second group's values written through the write path), against one
/// optimizer per parameter built with its group's values.
fn same_as_separate<C: OptimizerSpec + Copy>(name: &str, base: C, second: C, lr: [f64; 2], momentum: f64, wd: f64) {
    let vs = VarStore::new(Device::Cpu);
    let a = vs.root().var("a", &[3], Init::Const(0.5));
    let b = vs.root().set_group(1).var("b", &[3], Init::Const(-0.25));
    let mut both = Optim::owned(base, &vs, lr.to_vec()).unwrap();
    // Group 1's momentum (beta1) and weight decay, through the write path.
    both.groups_mut().groups_mut()[1].momentum = momentum;
    both.groups_mut().groups_mut()[1].weight_decay = wd;
    both.sync().unwrap();

    let (vs0, vs1) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let a0 = vs0.root().var("a", &[3], Init::Const(0.5));
    let b1 = vs1.root().var("b", &[3], Init::Const(-0.25));
    let mut first = Optim::owned(base, &vs0, lr[0]).unwrap();
    let mut other = Optim::owned(second, &vs1, lr[1]).unwrap();
    for k in 0..20 {
        grad_step(&mut both, &[&a, &b], k);
        grad_step(&mut first, &[&a0], k);
        // The second parameter's loss term is its own: index 1 in `both`.
        let loss =
            (&b1 * ((Tensor::arange(3, (Kind::Float, Device::Cpu)) + (k + 1) as f64) * 0.3).sin()).sum(Kind::Float);
        other.backward_step(&loss);
    }
    assert!(a.equal(&a0), "{name}: group 0 trained differently");
    assert!(b.equal(&b1), "{name}: group 1 (written values) trained differently: {b} vs {b1}");
}

#[test]
fn per_group_values_reach_libtorch_for_every_optimizer() {
    let sgd = nn::Sgd { momentum: 0.9, ..Default::default() };
    same_as_separate("SGD", sgd, nn::Sgd { momentum: 0.5, wd: 0.1, ..sgd }, [0.05, 0.02], 0.5, 0.1);
    let adam = nn::Adam::default();
    same_as_separate("Adam", adam, nn::Adam { beta1: 0.7, wd: 0.05, ..adam }, [0.01, 0.03], 0.7, 0.05);
    let adamw = nn::AdamW::default();
    same_as_separate("AdamW", adamw, nn::AdamW { beta1: 0.8, wd: 0.2, ..adamw }, [0.01, 0.02], 0.8, 0.2);
    let rms = nn::RmsProp { momentum: 0.9, ..Default::default() };
    same_as_separate("RMSprop", rms, nn::RmsProp { momentum: 0.3, wd: 0.01, ..rms }, [0.01, 0.005], 0.3, 0.01);
}
