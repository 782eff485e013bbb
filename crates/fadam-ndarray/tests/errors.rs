//! Every refused step writes nothing: parameters, state and step counters
//! are exactly as they were, and the next good step continues as if the
//! refused one had never been tried.

mod common;

use common::{Arrays, bits};
use fadam_core::Hyperparameter;
use fadam_ndarray::{Buffer, Error, FAdam, FAdamConfig, ParamState, StateOrder};
use fadam_testkit::rng::{TestRng, seeded};
use ndarray::{ArrayD, s};

/// Parameters of a small model: a C matrix, a strided view of a wider
/// matrix (gathered), a Fortran vector-like matrix, a bias.
struct Model {
    w: ArrayD<f64>,
    wide: ArrayD<f64>,
    f: ArrayD<f64>,
    b: ArrayD<f64>,
}

impl Model {
    fn new(rng: &mut TestRng) -> Self {
        Self {
            w: rng.array(&[3, 4], 1.0),
            wide: rng.array(&[4, 6], 1.0),
            f: rng.array_f(&[2, 5], 1.0),
            b: rng.array(&[4], 1.0),
        }
    }

    fn grads(rng: &mut TestRng) -> [ArrayD<f64>; 4] {
        [
            rng.array(&[3, 4], 0.5),
            rng.array(&[4, 3], 0.5),
            rng.array(&[2, 5], 0.5),
            rng.array(&[4], 0.5),
        ]
    }

    fn step(
        &mut self,
        opt: &mut FAdam<f64>,
        g: &[ArrayD<f64>],
        groups: [usize; 4],
    ) -> Result<(), Error> {
        opt.begin_step()
            .param_in_group(groups[0], &mut self.w, &g[0])
            .param_in_group(groups[1], &mut self.wide.slice_mut(s![.., ..;2]), &g[1])
            .param_in_group(groups[2], &mut self.f, &g[2])
            .param_in_group(groups[3], &mut self.b, &g[3])
            .finish()
    }

    fn snapshot(&self) -> Vec<u64> {
        [&self.w, &self.wide, &self.f, &self.b]
            .iter()
            .flat_map(|a| bits(a.iter().copied()))
            .collect()
    }
}

fn groups() -> Vec<FAdamConfig> {
    vec![
        FAdamConfig::new().with_lr(1e-2),
        FAdamConfig::new().with_lr(1e-2).with_weight_decay(0.0),
    ]
}

/// Runs `bad` (which must fail with `expected`) at step `at` of a run, and
/// checks that nothing changed and that the run then matches one where the
/// bad step never happened.
fn refused_at(
    at: usize,
    expected: Error,
    bad: impl Fn(&mut Model, &mut FAdam<f64>, &[ArrayD<f64>]) -> Result<(), Error>,
) {
    let mut rng = seeded(1);
    let mut model = Model::new(&mut rng);
    let mut clean = Model::new(&mut seeded(1));
    let mut opt = FAdam::with_groups(groups());
    let mut clean_opt = FAdam::with_groups(groups());
    let mut rng = seeded(2);
    for t in 0..at + 3 {
        let g = Model::grads(&mut rng);
        if t == at {
            let (params, state) = (model.snapshot(), opt.clone());
            assert_eq!(bad(&mut model, &mut opt, &g), Err(expected.clone()));
            assert_eq!(model.snapshot(), params, "parameters changed");
            assert_eq!(opt, state, "state changed");
        }
        model.step(&mut opt, &g, [0, 1, 0, 1]).unwrap();
        clean.step(&mut clean_opt, &g, [0, 1, 0, 1]).unwrap();
        assert_eq!(model.snapshot(), clean.snapshot());
        assert_eq!(opt, clean_opt);
    }
}

fn at_first_and_later(
    expected: Error,
    bad: impl Fn(&mut Model, &mut FAdam<f64>, &[ArrayD<f64>]) -> Result<(), Error>,
) {
    refused_at(0, expected.clone(), &bad);
    refused_at(3, expected, &bad);
}

#[test]
fn non_finite_gradient_in_last_tensor() {
    for bad_value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        at_first_and_later(
            Error::Core(fadam_core::Error::NonFiniteGradient { tensor: 3 }),
            |m, o, g| {
                let mut g = g.to_vec();
                g[3][2] = bad_value;
                m.step(o, &g, [0, 1, 0, 1])
            },
        );
    }
}

#[test]
fn non_finite_gradient_in_gathered_tensor() {
    at_first_and_later(
        Error::Core(fadam_core::Error::NonFiniteGradient { tensor: 1 }),
        |m, o, g| {
            let mut g = g.to_vec();
            g[1][[3, 2]] = f64::NAN;
            m.step(o, &g, [0, 1, 0, 1])
        },
    );
}

#[test]
fn gradient_shape_mismatch() {
    at_first_and_later(
        Error::ShapeMismatch {
            tensor: 2,
            buffer: Buffer::Gradient,
            expected: vec![2, 5],
            found: vec![5, 2],
        },
        |m, o, g| {
            let mut g = g.to_vec();
            g[2] = g[2].clone().into_shape_with_order(vec![5, 2]).unwrap();
            m.step(o, &g, [0, 1, 0, 1])
        },
    );
}

#[test]
fn gradient_and_group_counts() {
    at_first_and_later(
        Error::GradientCount {
            expected: 2,
            found: 1,
        },
        |m, o, g| o.step(&mut [m.w.view_mut(), m.b.view_mut()], &[g[0].view()]),
    );
    at_first_and_later(
        Error::GroupCount {
            expected: 2,
            found: 3,
        },
        |m, o, g| {
            o.step_grouped(
                &mut [m.w.view_mut(), m.b.view_mut()],
                &[g[0].view(), g[3].view()],
                &[0, 1, 1],
            )
        },
    );
}

#[test]
fn parameter_set_changed() {
    // One parameter fewer.
    refused_at(
        2,
        Error::ParamCount {
            expected: 4,
            found: 3,
        },
        |m, o, g| {
            o.begin_step()
                .param(&mut m.w, &g[0])
                .param(&mut m.wide.slice_mut(s![.., ..;2]), &g[1])
                .param(&mut m.f, &g[2])
                .finish()
        },
    );
    // One more.
    refused_at(
        2,
        Error::ParamCount {
            expected: 4,
            found: 5,
        },
        |m, o, g| {
            let mut extra = ArrayD::<f64>::zeros(vec![1]);
            let gx = extra.clone();
            o.begin_step()
                .param(&mut m.w, &g[0])
                .param(&mut m.wide.slice_mut(s![.., ..;2]), &g[1])
                .param(&mut m.f, &g[2])
                .param(&mut m.b, &g[3])
                .param(&mut extra, &gx)
                .finish()
        },
    );
    // Same number of elements, another shape (gradient reshaped alike).
    refused_at(
        2,
        Error::ParamShape {
            tensor: 0,
            expected: vec![3, 4],
            found: vec![4, 3],
        },
        |m, o, g| {
            let mut w = m.w.view_mut().into_shape_with_order(vec![4, 3]).unwrap();
            let gw = g[0].view().into_shape_with_order(vec![4, 3]).unwrap();
            o.begin_step()
                .param(&mut w, &gw)
                .param(&mut m.wide.slice_mut(s![.., ..;2]), &g[1])
                .param(&mut m.f, &g[2])
                .param(&mut m.b, &g[3])
                .finish()
        },
    );
    // Two parameters swapped.
    refused_at(
        2,
        Error::ParamShape {
            tensor: 2,
            expected: vec![2, 5],
            found: vec![4],
        },
        |m, o, g| {
            o.begin_step()
                .param(&mut m.w, &g[0])
                .param(&mut m.wide.slice_mut(s![.., ..;2]), &g[1])
                .param(&mut m.b, &g[3])
                .param(&mut m.f, &g[2])
                .finish()
        },
    );
}

#[test]
fn invalid_config_and_unknown_group() {
    at_first_and_later(
        Error::Core(fadam_core::Error::UnknownGroup {
            tensor: 3,
            group: 2,
            groups: 2,
        }),
        |m, o, g| m.step(o, g, [0, 1, 0, 2]),
    );
    at_first_and_later(
        Error::Core(fadam_core::Error::Config {
            group: 1,
            error: fadam_core::ConfigError {
                parameter: Hyperparameter::Beta2,
                value: 1.0,
            },
        }),
        |m, o, g| {
            let good = o.groups()[1];
            o.groups_mut()[1].beta2 = 1.0;
            let result = m.step(o, g, [0, 1, 0, 1]);
            o.groups_mut()[1] = good;
            result
        },
    );
}

#[test]
fn loaded_state_of_another_shape_is_refused() {
    let mut rng = seeded(1);
    let mut model = Model::new(&mut rng);
    let mut opt = FAdam::with_groups(groups());
    let g = Model::grads(&mut rng);
    model.step(&mut opt, &g, [0, 1, 0, 1]).unwrap();
    let mut states = opt.take_state();
    states[3] = ParamState::zeros(vec![5], StateOrder::RowMajor);
    opt.load_state(states);
    let (params, state) = (model.snapshot(), opt.clone());
    assert_eq!(
        model.step(&mut opt, &g, [0, 1, 0, 1]),
        Err(Error::ParamShape {
            tensor: 3,
            expected: vec![5],
            found: vec![4],
        })
    );
    assert_eq!((model.snapshot(), &opt), (params, &state));
}

#[test]
fn inconsistent_param_state_is_refused() {
    assert_eq!(
        ParamState::new(
            vec![2, 3],
            StateOrder::RowMajor,
            vec![0.0f32; 6],
            vec![0.0; 5],
            1
        ),
        Err(Error::StateLength {
            buffer: Buffer::Fisher,
            expected: Some(6),
            found: 5,
        })
    );
    assert_eq!(
        ParamState::<f64>::new(vec![usize::MAX, 2], StateOrder::RowMajor, vec![], vec![], 0),
        Err(Error::StateLength {
            buffer: Buffer::Momentum,
            expected: None,
            found: 0,
        })
    );
    let ok = ParamState::new(
        vec![2, 0],
        StateOrder::ColumnMajor,
        Vec::<f64>::new(),
        vec![],
        4,
    )
    .unwrap();
    assert!(ok.is_empty());
    assert_eq!(
        ok.into_parts(),
        (vec![2, 0], StateOrder::ColumnMajor, vec![], vec![], 4)
    );
}

#[test]
fn errors_display_and_source() {
    use std::error::Error as _;
    let core = Error::Core(fadam_core::Error::NonFiniteGradient { tensor: 1 });
    assert!(core.source().is_some());
    assert!(core.to_string().contains("tensor 1"));
    let shape = Error::ShapeMismatch {
        tensor: 0,
        buffer: Buffer::Gradient,
        expected: vec![2],
        found: vec![3],
    };
    assert_eq!(
        shape.to_string(),
        "tensor 0: Gradient has shape [3], the parameters have [2]"
    );
}
