//! State is input too: an invalid state given to a step is refused with
//! nothing written, and an invalid record is refused where it enters.

mod common;

use burn::optim::Optimizer;
use burn::tensor::{Bytes, Device, Tensor};
use common::trained::trained;
use common::{tensor, values};
use fadam_burn::{FAdamConfig, FAdamState, LoadError, StateError, load_checked};

/// An edit of a state.
type StateEdit<'a> = dyn Fn(&mut FAdamState<1>) + 'a;

/// A leaf of a record, an edit of its values, and the error it must give.
type RecordCase = (&'static str, fn(&mut [f32]), StateError);

/// One step taken, then the state with `edit` applied.
fn stepped(edit: impl FnOnce(&mut FAdamState<1>)) -> (Tensor<1>, FAdamState<1>) {
    let device = Device::default();
    let optim = FAdamConfig::new().build();
    let (theta, state) = optim.step(
        1e-2,
        tensor(vec![1.0, -2.0, 3.0], [3], &device),
        tensor(vec![0.5, -0.5, 0.25], [3], &device),
        None,
    );
    let mut state = state.unwrap();
    edit(&mut state);
    (theta, state)
}

/// Both ways to step: fadam-core on the host data of `flex` tensors, and
/// burn tensor operations.
const HOST_STEP: [bool; 2] = [true, false];

#[test]
fn an_invalid_state_refuses_the_step() {
    for host in HOST_STEP {
        invalid_state_refuses(host);
    }
}

fn invalid_state_refuses(host: bool) {
    let device = Device::default();
    let optim = FAdamConfig::new().build().with_host_step(host);
    let with = |v: Vec<f32>| tensor(v, [3], &device);
    let cases: [(&str, Box<StateEdit<'_>>); 4] = [
        (
            "negative fisher",
            Box::new(|s| s.fisher = with(vec![0.1, -1e3, 0.1])),
        ),
        (
            "NaN fisher",
            Box::new(|s| s.fisher = with(vec![0.1, f32::NAN, 0.1])),
        ),
        (
            "infinite momentum",
            Box::new(|s| s.momentum = with(vec![0.0, f32::INFINITY, 0.0])),
        ),
        (
            "NaN momentum",
            Box::new(|s| s.momentum = with(vec![f32::NAN, 0.0, 0.0])),
        ),
    ];
    for (name, edit) in cases {
        let (theta, state) = stepped(|s| edit(s));
        let (after, after_state) = optim.step(
            1e-2,
            theta.clone(),
            with(vec![0.5, -0.5, 0.25]),
            Some(state.clone()),
        );
        let after_state = after_state.unwrap();
        let same = |a: &Tensor<1>, b: &Tensor<1>| {
            values(a)
                .iter()
                .zip(values(b))
                .all(|(x, y)| x.to_bits() == y.to_bits())
        };
        assert!(
            same(&after, &theta),
            "{name} (host {host}): parameters written"
        );
        assert!(same(&after_state.momentum, &state.momentum), "{name}");
        assert!(same(&after_state.fisher, &state.fisher), "{name}");
        assert_eq!(values(&after_state.refused), [1.0], "{name}");
        assert_eq!(after_state.calls, 2, "{name}");
    }
}

/// A NaN, infinite or negative learning rate (a faulty scheduler) refuses
/// the step and counts it, as an invalid state does; the next valid step
/// goes on from the old state.
#[test]
fn an_invalid_learning_rate_refuses_the_step() {
    for host in HOST_STEP {
        invalid_learning_rate_refuses(host);
    }
}

fn invalid_learning_rate_refuses(host: bool) {
    let device = Device::default();
    let optim = FAdamConfig::new().build().with_host_step(host);
    let grad = tensor(vec![0.5, -0.5, 0.25], [3], &device);
    let (theta, state) = stepped(|_| {});
    let bits = |t: &Tensor<1>| values(t).iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for lr in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1e-3] {
        let (after, after_state) = optim.step(lr, theta.clone(), grad.clone(), Some(state.clone()));
        let after_state = after_state.unwrap();
        assert_eq!(bits(&after), bits(&theta), "lr {lr} (host {host}): written");
        assert_eq!(
            bits(&after_state.momentum),
            bits(&state.momentum),
            "lr {lr}"
        );
        assert_eq!(bits(&after_state.fisher), bits(&state.fisher), "lr {lr}");
        assert_eq!(bits(&after_state.bias_1), bits(&state.bias_1), "lr {lr}");
        assert_eq!(bits(&after_state.bias_2), bits(&state.bias_2), "lr {lr}");
        assert_eq!(values(&after_state.refused), [1.0], "lr {lr}");
        assert_eq!(after_state.calls, 2, "lr {lr}");
        // A valid step after the refused one moves the parameters.
        let (next, _) = optim.step(1e-2, after, grad.clone(), Some(after_state));
        assert_ne!(bits(&next), bits(&theta), "lr {lr}: no step after");
    }
}

/// A module with one parameter, its optimizer after two steps, and that
/// optimizer's record.
fn saved() -> (burn::optim::ModuleOptimizer, Bytes) {
    let optim = trained(&Device::default().autodiff(), 5);
    let bytes = optim.into_bytes().unwrap();
    (optim, bytes)
}

/// The record with the f32 values of leaf `leaf` changed by `edit`.
fn edited(bytes: Bytes, leaf: &str, edit: impl Fn(&mut [f32])) -> Bytes {
    let reader = burn_pack::Reader::from_bytes(bytes).unwrap();
    let scalars = reader.scalars().clone();
    let metadata = reader.metadata().clone();
    let mut tensors = Vec::new();
    for t in reader.into_tensors().unwrap() {
        let (name, dtype, shape, id, data) = t.into_parts().unwrap();
        let data = if name.ends_with(&format!(".{leaf}")) {
            let mut v: Vec<f32> = data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            edit(&mut v);
            Bytes::from_bytes_vec(v.iter().flat_map(|x| x.to_le_bytes()).collect())
        } else {
            data
        };
        tensors.push(burn_pack::Tensor::new(name, dtype, shape, id, data));
    }
    let mut writer = burn_pack::Writer::new(tensors);
    for (k, v) in &scalars {
        writer = writer.with_scalar(k, *v);
    }
    for (k, v) in &metadata {
        writer = writer.with_metadata(k, v);
    }
    writer.into_bytes().unwrap()
}

#[test]
fn an_invalid_record_is_refused_and_changes_nothing() {
    let (optim, good) = saved();
    let cases: [RecordCase; 5] = [
        ("fisher", |v| v[1] = -1.0, StateError::NegativeFisher),
        (
            "fisher",
            |v| v[0] = f32::INFINITY,
            StateError::NonFinite { leaf: "fisher" },
        ),
        (
            "momentum",
            |v| v[0] = f32::NAN,
            StateError::NonFinite { leaf: "momentum" },
        ),
        (
            "refused",
            |v| v[0] = 7.0,
            StateError::OutOfRange { leaf: "refused" },
        ),
        (
            "bias_2",
            |v| v[0] = 1.5,
            StateError::OutOfRange { leaf: "bias_2" },
        ),
    ];
    for (leaf, edit, want) in cases {
        let bad = edited(good.clone(), leaf, edit);
        let mut target = FAdamConfig::new().init();
        target = target.from_bytes(good.clone()).unwrap();
        let before = target.into_bytes().unwrap();
        match load_checked(&mut target, bad.clone()) {
            Err(LoadError::State { error, .. }) => assert_eq!(error, want, "{leaf}"),
            other => panic!("{leaf}: {other:?}"),
        }
        assert_eq!(target.into_bytes().unwrap(), before, "{leaf}: changed");
        // burn's own loader drops the invalid state rather than load it.
        let dropped = FAdamConfig::new().init().from_bytes(bad).unwrap();
        assert_ne!(dropped.into_bytes().unwrap(), before, "{leaf}");
    }
    // The unedited record loads, and resumes to the same record.
    let mut target = FAdamConfig::new().init();
    load_checked(&mut target, good.clone()).unwrap();
    assert_eq!(target.into_bytes().unwrap(), optim.into_bytes().unwrap());
}
