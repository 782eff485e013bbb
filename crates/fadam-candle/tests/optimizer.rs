//! The candle-facing behaviour: refusal, skipped vars, half precision,
//! strided gradients, typed errors through candle's, checkpoints, training.

mod common;

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use common::{SHAPES, values, var};
use fadam_candle::{FAdam, FAdamError, ParamsFAdam, StepPath};
use fadam_core::{State, step};
use fadam_testkit::rng::{Draw, TestRng, seeded};

/// Vars of every rank and an optimizer over them.
fn model(dtype: DType, path: StepPath) -> (Vec<Var>, FAdam) {
    let mut rng = seeded(3);
    let vars: Vec<Var> = SHAPES
        .iter()
        .map(|s| var(&rng.vec_f64(s.iter().product(), 1.0), s, dtype))
        .collect();
    let named = vars
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("v{i}"), v.clone(), 0));
    let mut opt = FAdam::with_groups(vec![ParamsFAdam::default().with_lr(1e-2)], named).unwrap();
    opt.set_path(path).unwrap();
    (vars, opt)
}

fn grads(vars: &[Var], rng: &mut TestRng) -> GradStore {
    let mut store = GradStore::default();
    for v in vars {
        let g = rng.vec_f64(v.elem_count(), 1.0);
        let t = Tensor::new(g.as_slice(), &Device::Cpu).unwrap();
        store.insert(
            v,
            t.reshape(v.shape()).unwrap().to_dtype(v.dtype()).unwrap(),
        );
    }
    store
}

/// Every var's values and every state entry (sorted by name).
type Snapshot = (Vec<Vec<f64>>, Vec<(String, Vec<f64>)>);

/// Every var's values and every state entry, to compare bit for bit.
fn snapshot(vars: &[Var], opt: &FAdam) -> Snapshot {
    let mut state: Vec<_> = opt
        .state_tensors()
        .unwrap()
        .into_iter()
        .map(|(k, t)| (k, values(&t)))
        .collect();
    state.sort_by(|a, b| a.0.cmp(&b.0));
    (vars.iter().map(|v| values(v.as_tensor())).collect(), state)
}

#[test]
fn a_refused_step_changes_nothing_and_names_the_var() {
    for path in [StepPath::Auto, StepPath::TensorOps] {
        let (vars, mut opt) = model(DType::F32, path);
        let mut rng = seeded(4);
        opt.step(&grads(&vars, &mut rng)).unwrap();
        let before = snapshot(&vars, &opt);
        let mut bad = grads(&vars, &mut rng);
        let poisoned = Tensor::new(&[[1f32, f32::NAN, 0.0, 0.0, 0.0]; 6], &Device::Cpu).unwrap();
        bad.insert(&vars[2], poisoned);
        let result = opt.step(&bad);
        match path {
            StepPath::Auto => {
                let error = result.unwrap_err();
                assert!(
                    matches!(
                        FAdamError::find(&error),
                        Some(FAdamError::Refused { var, error: fadam_core::Error::NonFiniteGradient { tensor: 2 } })
                            if var == "v2"
                    ),
                    "{error}"
                );
                opt.check().unwrap();
            }
            StepPath::TensorOps => {
                result.unwrap();
                let error = opt.check().unwrap_err();
                assert!(
                    matches!(&error, FAdamError::Refused { var, .. } if var == "v2"),
                    "{error}"
                );
            }
        }
        assert_eq!(snapshot(&vars, &opt), before, "{path:?}");
        assert!(opt.step_counts().unwrap().iter().all(|&(_, c)| c == 1));
    }
}

#[test]
fn gradient_mismatches_are_typed_errors_that_write_nothing() {
    let (vars, mut opt) = model(DType::F32, StepPath::Auto);
    let mut rng = seeded(5);
    let before = snapshot(&vars, &opt);
    let mut store = grads(&vars, &mut rng);
    store.insert(
        &vars[3],
        Tensor::zeros((4, 3, 2), DType::F32, &Device::Cpu).unwrap(),
    );
    assert!(
        matches!(opt.try_step(&store), Err(FAdamError::GradientShape { var, .. }) if var == "v3")
    );
    store.insert(
        &vars[3],
        Tensor::zeros((2, 3, 4), DType::F64, &Device::Cpu).unwrap(),
    );
    assert!(
        matches!(opt.try_step(&store), Err(FAdamError::GradientDType { var, .. }) if var == "v3")
    );
    opt.groups_mut()[0].beta2 = 1.0;
    assert!(matches!(
        opt.try_step(&grads(&vars, &mut rng)),
        Err(FAdamError::Config { group: 0, .. })
    ));
    assert_eq!(snapshot(&vars, &opt), before);
}

#[test]
fn a_var_without_gradient_is_skipped() {
    for path in [StepPath::Auto, StepPath::TensorOps] {
        let (vars, mut opt) = model(DType::F32, path);
        let mut rng = seeded(6);
        let mut store = grads(&vars, &mut rng);
        store.remove(&vars[1]);
        let before = values(vars[1].as_tensor());
        opt.step(&store).unwrap();
        assert_eq!(values(vars[1].as_tensor()), before);
        let counts: Vec<u64> = opt.step_counts().unwrap().iter().map(|c| c.1).collect();
        assert_eq!(counts, [1, 0, 1, 1, 1], "{path:?}");
    }
}

/// f16 and bf16 vars with f32 state: the CPU path is fadam-core's step.
#[test]
fn half_precision_matches_core() {
    fn run<H: fadam_core::Param<State = f32> + candle_core::WithDType>(dtype: DType) {
        for path in [StepPath::Auto, StepPath::TensorOps] {
            let mut rng = seeded(8);
            let init = rng.vec_f64(24, 1.0);
            let v = var(&init, &[4, 6], dtype);
            let mut theta: Vec<H> = values(v.as_tensor()).into_iter().map(H::from_f64).collect();
            let mut state = State::<f32>::new(24);
            let config = ParamsFAdam::default().with_lr(1e-2);
            let mut opt = FAdam::with_groups(vec![config], [("w".into(), v.clone(), 0)]).unwrap();
            opt.set_path(path).unwrap();
            for _ in 0..10 {
                let g: Vec<H> = rng.vec_f64(24, 1.0).into_iter().map(H::from_f64).collect();
                step(&config, &mut theta, &g, state.as_mut()).unwrap();
                let mut store = GradStore::default();
                store.insert(&v, Tensor::from_slice(&g, (4, 6), &Device::Cpu).unwrap());
                opt.try_step(&store).unwrap();
            }
            let want: Vec<f64> = theta.iter().map(|x| x.to_f64()).collect();
            let got = values(v.as_tensor());
            if path == StepPath::Auto {
                assert_eq!(got, want, "{dtype:?}");
                let m = values(&opt.state_tensors().unwrap()["w.momentum"]);
                assert_eq!(
                    m,
                    state
                        .momentum()
                        .iter()
                        .map(|&x| f64::from(x))
                        .collect::<Vec<_>>()
                );
            } else {
                // One rounding to the half type apart at most.
                let close = got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| (a - b).abs() <= 1e-2 * b.abs().max(1e-3));
                assert!(close, "{dtype:?}: {got:?} vs {want:?}");
            }
        }
    }
    run::<half::f16>(DType::F16);
    run::<half::bf16>(DType::BF16);
}

/// A var made from a transposed tensor, and a strided (transposed)
/// gradient: both give the same bits as contiguous ones.
#[test]
fn strided_tensors_give_the_same_bits() {
    let mut rng = seeded(9);
    let base = Tensor::new(rng.vec_f64(12, 1.0).as_slice(), &Device::Cpu)
        .unwrap()
        .reshape((3, 4))
        .unwrap();
    let g = Tensor::new(rng.vec_f64(12, 1.0).as_slice(), &Device::Cpu)
        .unwrap()
        .reshape((3, 4))
        .unwrap();
    let transposed = Var::from_tensor(&base.t().unwrap()).unwrap();
    let plain = Var::from_tensor(&base.t().unwrap().contiguous().unwrap()).unwrap();
    let config = ParamsFAdam::default().with_lr(1e-2);
    let mut a = FAdam::with_groups(vec![config], [("w".into(), transposed.clone(), 0)]).unwrap();
    let mut b = FAdam::with_groups(vec![config], [("w".into(), plain.clone(), 0)]).unwrap();
    let (mut sa, mut sb) = (GradStore::default(), GradStore::default());
    sa.insert(&transposed, g.t().unwrap());
    sb.insert(&plain, g.t().unwrap().contiguous().unwrap());
    for _ in 0..3 {
        a.try_step(&sa).unwrap();
        b.try_step(&sb).unwrap();
    }
    assert_eq!(values(transposed.as_tensor()), values(plain.as_tensor()));
}

#[test]
fn save_load_and_continue_bit_identically() {
    for path in [StepPath::Auto, StepPath::TensorOps] {
        let (vars, mut opt) = model(DType::F32, path);
        let mut rng = seeded(10);
        let stores: Vec<GradStore> = (0..8).map(|_| grads(&vars, &mut rng)).collect();
        for s in &stores[..4] {
            opt.step(s).unwrap();
        }
        let file = std::env::temp_dir().join(format!("fadam-candle-test-{path:?}.safetensors"));
        opt.save(&file).unwrap();
        let saved: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().copy().unwrap()).collect();
        for s in &stores[4..] {
            opt.step(s).unwrap();
        }
        let continued = snapshot(&vars, &opt);

        // A fresh optimizer over the vars as they were at the checkpoint.
        for (v, t) in vars.iter().zip(&saved) {
            v.set(t).unwrap();
        }
        let (_, mut fresh) = model(DType::F32, path);
        let named = vars
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("v{i}"), v.clone(), 0));
        fresh = FAdam::with_groups(fresh.groups().to_vec(), named).unwrap();
        fresh.set_path(path).unwrap();
        fresh.load(&file).unwrap();
        for s in &stores[4..] {
            // The gradients were recorded for the same vars.
            fresh.step(s).unwrap();
        }
        std::fs::remove_file(&file).unwrap();
        assert_eq!(snapshot(&vars, &fresh), continued, "{path:?}");
    }
}

#[test]
fn mismatched_state_is_refused_and_changes_nothing() {
    let (vars, mut opt) = model(DType::F32, StepPath::Auto);
    opt.step(&grads(&vars, &mut seeded(11))).unwrap();
    let good = opt.state_tensors().unwrap();
    let before = snapshot(&vars, &opt);
    let edit = |f: &dyn Fn(&mut HashMap<String, Tensor>)| {
        let mut map = good.clone();
        f(&mut map);
        map
    };
    let cases = [
        edit(&|m| {
            m.remove("v1.fisher");
        }),
        edit(&|m| {
            m.insert(
                "stray.step".into(),
                Tensor::new(1i64, &Device::Cpu).unwrap(),
            );
        }),
        edit(&|m| {
            m.insert(
                "v2.momentum".into(),
                Tensor::zeros((5, 6), DType::F32, &Device::Cpu).unwrap(),
            );
        }),
        edit(&|m| {
            m.insert(
                "v2.momentum".into(),
                Tensor::zeros((6, 5), DType::F64, &Device::Cpu).unwrap(),
            );
        }),
    ];
    let results: Vec<_> = cases
        .into_iter()
        .map(|m| opt.load_state_tensors(m))
        .collect();
    assert!(matches!(&results[0], Err(FAdamError::MissingState { name }) if name == "v1.fisher"));
    assert!(
        matches!(&results[1], Err(FAdamError::UnexpectedState { name }) if name == "stray.step")
    );
    assert!(
        matches!(&results[2], Err(FAdamError::StateShape { name, .. }) if name == "v2.momentum")
    );
    assert!(
        matches!(&results[3], Err(FAdamError::StateDType { name, .. }) if name == "v2.momentum")
    );
    assert_eq!(snapshot(&vars, &opt), before);
    opt.load_state_tensors(good).unwrap();
    assert_eq!(snapshot(&vars, &opt), before);
}

/// A small MLP on a regression task: the loss falls, on both paths.
#[test]
fn a_small_model_learns() {
    for path in [StepPath::Auto, StepPath::TensorOps] {
        let device = Device::Cpu;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let l1 = candle_nn::linear(3, 16, vb.pp("l1")).unwrap();
        let l2 = candle_nn::linear(16, 1, vb.pp("l2")).unwrap();
        let mut opt = FAdam::from_varmap(&varmap, ParamsFAdam::default().with_lr(1e-2)).unwrap();
        opt.set_path(path).unwrap();
        let mut rng = seeded(12);
        let x = Tensor::new(rng.vec_f64(64 * 3, 1.0).as_slice(), &device)
            .and_then(|t| t.reshape((64, 3)))
            .and_then(|t| t.to_dtype(DType::F32))
            .unwrap();
        let y = x.sum_keepdim(1).unwrap().sin().unwrap();
        let loss = || {
            let h = l1.forward(&x).unwrap().tanh().unwrap();
            l2.forward(&h)
                .unwrap()
                .sub(&y)
                .unwrap()
                .sqr()
                .unwrap()
                .mean_all()
                .unwrap()
        };
        let first = loss().to_scalar::<f32>().unwrap();
        for _ in 0..200 {
            opt.backward_step(&loss()).unwrap();
        }
        let last = loss().to_scalar::<f32>().unwrap();
        assert!(last < first / 5.0, "{path:?}: {first} -> {last}");
    }
}

/// A var with no elements steps (its count advances) on both paths.
#[test]
fn an_empty_var_steps() {
    for path in [StepPath::Auto, StepPath::TensorOps] {
        let empty = Var::zeros((0, 3), DType::F32, &Device::Cpu).unwrap();
        let one = Var::ones(2, DType::F32, &Device::Cpu).unwrap();
        let vars = [
            ("empty".to_string(), empty.clone(), 0),
            ("one".to_string(), one.clone(), 0),
        ];
        let mut opt = FAdam::with_groups(vec![ParamsFAdam::default()], vars).unwrap();
        opt.set_path(path).unwrap();
        let mut store = GradStore::default();
        store.insert(
            &empty,
            Tensor::zeros((0, 3), DType::F32, &Device::Cpu).unwrap(),
        );
        store.insert(&one, Tensor::new(&[0.5f32, 0.25], &Device::Cpu).unwrap());
        opt.try_step(&store).unwrap();
        assert_eq!(
            opt.step_counts().unwrap(),
            [("empty", 1), ("one", 1)],
            "{path:?}"
        );
        assert!(values(one.as_tensor()).iter().all(|&x| x < 1.0));
    }
}

/// The state handed out is a copy: later steps do not change it.
#[test]
fn state_tensors_are_snapshots() {
    let (vars, mut opt) = model(DType::F32, StepPath::Auto);
    let mut rng = seeded(13);
    opt.step(&grads(&vars, &mut rng)).unwrap();
    let state = opt.state_tensors().unwrap();
    let before = values(&state["v1.momentum"]);
    opt.step(&grads(&vars, &mut rng)).unwrap();
    assert_eq!(values(&state["v1.momentum"]), before);
    assert_ne!(values(&opt.state_tensors().unwrap()["v1.momentum"]), before);
}

#[test]
fn constructor_errors_are_typed() {
    let w = Var::ones(2, DType::F32, &Device::Cpu).unwrap();
    let params = ParamsFAdam::default();
    let twice = FAdam::with_groups(
        vec![params],
        [("a".into(), w.clone(), 0), ("b".into(), w.clone(), 0)],
    );
    assert!(matches!(twice, Err(FAdamError::DuplicateName { name }) if name == "b"));
    let other = Var::ones(2, DType::F32, &Device::Cpu).unwrap();
    let same_name = FAdam::with_groups(
        vec![params],
        [("a".into(), w.clone(), 0), ("a".into(), other, 0)],
    );
    assert!(matches!(same_name, Err(FAdamError::DuplicateName { name }) if name == "a"));
    let group = FAdam::with_groups(vec![params], [("a".into(), w.clone(), 1)]);
    assert!(matches!(
        group,
        Err(FAdamError::UnknownGroup {
            group: 1,
            groups: 1,
            ..
        })
    ));
    let config = FAdam::with_groups(
        vec![params, params.with_lr(-1.0)],
        [("a".into(), w.clone(), 0)],
    );
    assert!(matches!(config, Err(FAdamError::Config { group: 1, .. })));
    // Integer vars are left out, as candle's optimizers do.
    let ids = Var::zeros(3, DType::U32, &Device::Cpu).unwrap();
    let opt = FAdam::new(vec![ids, w], params).unwrap();
    assert_eq!(opt.names().collect::<Vec<_>>(), ["1"]);
}
