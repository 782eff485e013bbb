//! Save, load and continue: a resumed run is bit-identical to one that
//! never stopped.

mod common;

use common::{Arrays, Elem, bits};
use fadam_ndarray::{FAdam, FAdamConfig, ParamState, StateOrder};
use fadam_testkit::rng::seeded;
use ndarray::{ArrayD, s};
use serde::{Serialize, de::DeserializeOwned};

fn groups() -> Vec<FAdamConfig> {
    vec![
        FAdamConfig::new().with_lr(1e-2),
        FAdamConfig::adamw().with_lr(1e-2),
    ]
}

struct Run<A: Elem> {
    w: ArrayD<A>,
    f: ArrayD<A>,
    wide: ArrayD<A>,
    opt: FAdam<A>,
}

impl<A: Elem> Run<A> {
    fn new() -> Self {
        let mut rng = seeded(9);
        Self {
            w: rng.array(&[4, 3], 1.0),
            f: rng.array_f(&[3, 5], 1.0),
            wide: rng.array(&[5, 8], 1.0),
            opt: FAdam::with_groups(groups()),
        }
    }

    fn step(&mut self, t: u64) {
        let mut rng = seeded(1000 + t);
        let (gw, gf, gs): (ArrayD<A>, ArrayD<A>, ArrayD<A>) = (
            rng.array(&[4, 3], 0.5),
            rng.array(&[3, 5], 0.5),
            rng.array(&[5, 4], 0.5),
        );
        self.opt
            .begin_step()
            .param(&mut self.w, &gw)
            .param_in_group(1, &mut self.f, &gf)
            .param(&mut self.wide.slice_mut(s![.., 1..;2]), &gs)
            .finish()
            .unwrap();
    }

    fn params(&self) -> Vec<u64> {
        [&self.w, &self.f, &self.wide]
            .iter()
            .flat_map(|a| bits(a.iter().copied()))
            .collect()
    }
}

fn resume_is_bit_identical<A: Elem + Serialize + DeserializeOwned>() {
    let mut straight = Run::<A>::new();
    for t in 0..12 {
        straight.step(t);
    }

    let mut first = Run::<A>::new();
    for t in 0..5 {
        first.step(t);
    }
    let saved = serde_json::to_string(first.opt.state()).unwrap();
    // The parameters are the caller's to save; keep them, drop the optimizer.
    let Run { w, f, wide, .. } = first;

    let states: Vec<ParamState<A>> = serde_json::from_str(&saved).unwrap();
    assert_eq!(states[1].order(), StateOrder::ColumnMajor);
    assert_eq!(states[2].shape(), &[5, 4]);
    let mut opt = FAdam::with_groups(groups());
    opt.load_state(states);
    assert_eq!(opt.steps(), 5);
    let mut resumed = Run { w, f, wide, opt };
    for t in 5..12 {
        resumed.step(t);
    }

    assert_eq!(resumed.params(), straight.params());
    assert_eq!(resumed.opt, straight.opt);
    assert_eq!(resumed.opt.steps(), 12);
}

#[test]
fn resume_f64() {
    resume_is_bit_identical::<f64>();
}

#[test]
fn resume_f32() {
    resume_is_bit_identical::<f32>();
}

#[test]
fn state_round_trips_exactly() {
    let state = ParamState::new(
        vec![2, 2],
        StateOrder::ColumnMajor,
        vec![0.1f64, -1e-300, 5e-324, 1.0 / 3.0],
        vec![0.0, f64::MIN_POSITIVE, 1e300, 2.0f64.sqrt()],
        7,
    )
    .unwrap();
    let json = serde_json::to_string(&state).unwrap();
    let back: ParamState<f64> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    assert_eq!(
        bits(back.momentum().iter().copied()),
        bits(state.momentum().iter().copied())
    );
}

#[test]
fn inconsistent_saved_state_is_refused() {
    let json =
        r#"{"shape":[2,3],"order":"RowMajor","momentum":[0,0,0,0,0,0],"fisher":[0,0],"step":1}"#;
    let err = serde_json::from_str::<ParamState<f32>>(json).unwrap_err();
    assert!(err.to_string().contains("6 elements has 2 Fisher"), "{err}");
    let good = json.replace("\"fisher\":[0,0]", "\"fisher\":[0,0,0,0,0,0]");
    assert_eq!(
        serde_json::from_str::<ParamState<f32>>(&good)
            .unwrap()
            .len(),
        6
    );
}
