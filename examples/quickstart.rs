//! The code to copy into your own training loop: a linear regression trained
//! with SGD, a hand-built schedule (linear warmup, then cosine annealing), and
//! the LR printed as it goes. No YAML.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use tch::{nn, nn::Module, Device, Kind, Tensor};
use tch_lr::{CosineAnnealingLR, LinearLR, Optim, SequentialLR};

fn main() -> anyhow::Result<()> {
    tch::manual_seed(0);
    // Data: y = 3x - 2 + noise.
    let x = Tensor::randn([256, 1], (Kind::Float, Device::Cpu));
    let y = &x * 3.0 - 2.0 + Tensor::randn([256, 1], (Kind::Float, Device::Cpu)) * 0.1;

    let vs = nn::VarStore::new(Device::Cpu);
    let model = nn::linear(vs.root(), 1, 1, Default::default());
    // The tch optimizer, wrapped so the scheduler knows its groups, LR and momentum.
    let opt = Optim::new(nn::Sgd { momentum: 0.5, ..Default::default() }, &vs, 0.1)?;
    // SequentialLR([LinearLR(start_factor=0.1, total_iters=5), CosineAnnealingLR(T_max=45)], milestones=[5])
    let schedule = SequentialLR::new(
        vec![LinearLR::new().start_factor(0.1).total_iters(5).boxed(), CosineAnnealingLR::new(45).boxed()],
        vec![5],
    );
    let mut sched = schedule.build(opt)?;

    for epoch in 0..50 {
        let loss = model.forward(&x).mse_loss(&y, tch::Reduction::Mean);
        sched.optimizer_mut().backward_step(&loss);
        if epoch % 5 == 0 || epoch == 49 {
            println!("epoch {epoch:2}  lr {:.5}  loss {:.5}", sched.last_lr()[0], loss.double_value(&[]));
        }
        sched.step()?; // once per epoch, after the optimizer step
    }
    // Save the scheduler with the model; `sched.load(..)` continues exactly from here.
    let dir = std::env::temp_dir();
    sched.save(dir.join("quickstart-scheduler.yaml"))?;
    vs.save(dir.join("quickstart-model.ot"))?;
    let (w, b) = (model.ws.double_value(&[0, 0]), model.bs.as_ref().map_or(0.0, |b| b.double_value(&[0])));
    println!("learned y = {w:.3}x {b:+.3} (true: 3x - 2)");
    Ok(())
}
