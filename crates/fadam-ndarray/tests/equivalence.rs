//! Stepping through `fadam-ndarray` gives exactly what `fadam-core` gives on
//! the same elements, for every layout and every switch.

mod common;

use common::{Arrays, Elem, assert_state_eq, bits, every_switch, in_order};
use fadam_core::{FAdamConfig, State, step};
use fadam_ndarray::{FAdam, StateOrder};
use fadam_testkit::rng::seeded;
use ndarray::{ArrayD, Axis, IxDyn, ShapeBuilder, s};

/// Several contiguous parameters (C and Fortran, 0 to 3 dimensions), each
/// in its own group, over many steps, against `fadam_core::step` on their
/// memory-order slices.
fn contiguous_matches_core<A: Elem>(groups: &[FAdamConfig], seed: u64) {
    let mut rng = seeded(seed);
    let mut params: Vec<ArrayD<A>> = vec![
        rng.array(&[5, 7], 1.0),
        rng.array(&[7], 0.1),
        rng.array_f(&[3, 4, 2], 2.0),
        rng.array(&[], 1.0),
        rng.array_f(&[6, 1], 1.0),
    ];
    let orders = [
        StateOrder::RowMajor,
        StateOrder::RowMajor,
        StateOrder::ColumnMajor,
        StateOrder::RowMajor,
        StateOrder::RowMajor, // both C and F: C wins
    ];
    let group_of: Vec<usize> = (0..params.len()).map(|i| i % groups.len()).collect();
    let mut reference: Vec<Vec<A>> = params
        .iter()
        .zip(orders)
        .map(|(p, o)| in_order(p, o))
        .collect();
    let mut ref_states: Vec<State<A>> = params.iter().map(|p| State::new(p.len())).collect();
    let mut opt = FAdam::<A>::with_groups(groups.to_vec());

    for t in 0..25 {
        // Gradients in mixed layouts; one step has an all-zero gradient.
        let grads: Vec<ArrayD<A>> = params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let scale = if t == 7 {
                    0.0
                } else {
                    10f64.powi(i as i32 - 2)
                };
                if (t + i) % 2 == 0 {
                    rng.array(p.shape(), scale)
                } else {
                    rng.array_f(p.shape(), scale)
                }
            })
            .collect();
        for (i, (r, g)) in reference.iter_mut().zip(&grads).enumerate() {
            let g = in_order(g, orders[i]);
            step(&groups[group_of[i]], r, &g, ref_states[i].as_mut()).unwrap();
        }
        let mut views: Vec<_> = params.iter_mut().map(|p| p.view_mut()).collect();
        let gviews: Vec<_> = grads.iter().map(|g| g.view()).collect();
        opt.step_grouped(&mut views, &gviews, &group_of).unwrap();

        for (i, p) in params.iter().enumerate() {
            assert_eq!(opt.state()[i].order(), orders[i]);
            assert_eq!(
                bits(in_order(p, orders[i])),
                bits(reference[i].iter().copied()),
                "param {i} at step {t}"
            );
            assert_state_eq(&opt.state()[i], &ref_states[i], &format!("param {i}"));
        }
    }
    assert_eq!(opt.steps(), 25);
}

#[test]
fn contiguous_f64_every_switch_bit_identical_to_core() {
    for (i, config) in every_switch().into_iter().enumerate() {
        contiguous_matches_core::<f64>(&[config], i as u64);
    }
}

#[test]
fn contiguous_f32_every_switch_bit_identical_to_core() {
    for (i, config) in every_switch().into_iter().enumerate() {
        contiguous_matches_core::<f32>(&[config], 100 + i as u64);
    }
}

#[test]
fn contiguous_groups_bit_identical_to_core() {
    let groups = every_switch();
    contiguous_matches_core::<f64>(&groups[..5], 7);
    contiguous_matches_core::<f32>(&groups[10..15], 8);
    contiguous_matches_core::<f64>(
        &[
            FAdamConfig::new(),
            FAdamConfig::adam(),
            FAdamConfig::adamw(),
        ],
        9,
    );
}

/// Non-contiguous views (steps, negative strides, permuted axes) are stepped
/// exactly as the same elements made contiguous in C order; the elements
/// outside the views do not change.
fn views_match_contiguous<A: Elem>(config: FAdamConfig) {
    let mut rng = seeded(42);
    let mut big: ArrayD<A> = rng.array(&[9, 8], 1.0);
    let mut cube: ArrayD<A> = rng.array(&[2, 3, 4], 1.0);
    let big_before = big.clone();
    let mut opt = FAdam::<A>::new(config);
    let mut ref_params: Vec<Vec<A>> = Vec::new();
    let mut ref_states: Vec<State<A>> = Vec::new();

    for t in 0..12 {
        let gbig: ArrayD<A> = rng.array(&[10, 10], 0.3);
        let gcube: ArrayD<A> = rng.array_f(&[4, 2, 3], 0.3);
        // Parameter views: every other row, columns reversed; a permuted
        // (contiguous, neither C nor F) cube. Gradients: strided views too.
        let mut strided = big.slice_mut(s![1..;2, ..;-1]);
        let mut permuted = cube.view_mut().permuted_axes(vec![2, 0, 1]);
        let g_strided = gbig.slice(s![..8;2, 1..9]);
        let g_permuted = gcube.view(); // shape [4, 2, 3], Fortran order
        assert!(!strided.is_standard_layout() && strided.as_slice_memory_order().is_none());
        assert!(!permuted.is_standard_layout() && !permuted.t().is_standard_layout());

        if t == 0 {
            ref_params = vec![
                strided.iter().copied().collect(),
                permuted.iter().copied().collect(),
            ];
            ref_states = ref_params.iter().map(|p| State::new(p.len())).collect();
        }
        let ref_grads: [Vec<A>; 2] = [
            g_strided.iter().copied().collect(),
            g_permuted.iter().copied().collect(),
        ];
        for ((p, g), st) in ref_params.iter_mut().zip(&ref_grads).zip(&mut ref_states) {
            step(&config, p, g, st.as_mut()).unwrap();
        }

        opt.begin_step()
            .param(&mut strided, &g_strided)
            .param(&mut permuted, &g_permuted)
            .finish()
            .unwrap();

        assert_eq!(
            bits(strided.iter().copied()),
            bits(ref_params[0].iter().copied())
        );
        assert_eq!(
            bits(permuted.iter().copied()),
            bits(ref_params[1].iter().copied())
        );
        for (state, reference) in opt.state().iter().zip(&ref_states) {
            assert_eq!(state.order(), StateOrder::RowMajor);
            assert_state_eq(state, reference, "view");
        }
    }
    // Rows that are not in the strided view are untouched.
    for row in (0..9).step_by(2) {
        assert_eq!(
            big.index_axis(Axis(0), row),
            big_before.index_axis(Axis(0), row)
        );
    }
}

#[test]
fn views_equal_contiguous_f64() {
    views_match_contiguous::<f64>(FAdamConfig::new().with_lr(1e-2));
    views_match_contiguous::<f64>(FAdamConfig::adamw().with_lr(1e-2));
}

#[test]
fn views_equal_contiguous_f32() {
    views_match_contiguous::<f32>(FAdamConfig::new().with_lr(1e-2));
    views_match_contiguous::<f32>(FAdamConfig::adam().with_lr(1e-2));
}

/// A transposed view of a C array is Fortran-contiguous: it is stepped in
/// place, in memory order, bit-identically to stepping the array itself.
#[test]
fn transposed_view_steps_like_the_array() {
    let config = FAdamConfig::new().with_lr(1e-2);
    let mut rng = seeded(3);
    let mut a: ArrayD<f32> = rng.array(&[6, 5], 1.0);
    let mut b = a.clone();
    let (mut opt_a, mut opt_b) = (FAdam::new(config), FAdam::new(config));
    for _ in 0..10 {
        let g: ArrayD<f32> = rng.array(&[6, 5], 0.5);
        opt_a.begin_step().param(&mut a, &g).finish().unwrap();
        let mut bt = b.view_mut().reversed_axes();
        let gt = g.t();
        opt_b.begin_step().param(&mut bt, &gt).finish().unwrap();
    }
    assert_eq!(bits(a.iter().copied()), bits(b.iter().copied()));
    assert_eq!(opt_b.state()[0].order(), StateOrder::ColumnMajor);
    assert_eq!(opt_b.state()[0].shape(), &[5, 6]);
    assert_eq!(opt_a.state()[0].momentum(), opt_b.state()[0].momentum());
    assert_eq!(opt_a.state()[0].fisher(), opt_b.state()[0].fisher());
}

/// The same parameter handed over in C, then Fortran, then strided layout
/// keeps one element order and matches a run that never changed layout.
#[test]
fn layout_may_change_between_steps() {
    let config = FAdamConfig::new().with_lr(1e-2);
    let mut rng = seeded(11);
    let mut steady: ArrayD<f64> = rng.array(&[4, 6], 1.0);
    let mut moving = steady.clone();
    let (mut opt_s, mut opt_m) = (FAdam::new(config), FAdam::new(config));
    for t in 0..9 {
        let g: ArrayD<f64> = rng.array(&[4, 6], 0.5);
        opt_s.begin_step().param(&mut steady, &g).finish().unwrap();
        match t % 3 {
            0 => opt_m.begin_step().param(&mut moving, &g).finish().unwrap(),
            1 => {
                let mut f = ArrayD::zeros(IxDyn(&[4, 6]).f());
                f.assign(&moving);
                opt_m.begin_step().param(&mut f, &g).finish().unwrap();
                moving.assign(&f);
            }
            _ => {
                let mut wide = ArrayD::zeros(IxDyn(&[4, 12]));
                wide.slice_mut(s![.., ..;2]).assign(&moving);
                let mut view = wide.slice_mut(s![.., ..;2]);
                opt_m.begin_step().param(&mut view, &g).finish().unwrap();
                moving.assign(&view);
            }
        }
        assert_eq!(bits(steady.iter().copied()), bits(moving.iter().copied()));
    }
    assert_eq!(opt_m.state()[0].order(), StateOrder::RowMajor);
    assert_eq!(opt_s.state(), opt_m.state());
}

/// The three ways to call a step agree.
#[test]
fn step_step_grouped_and_builder_agree() {
    let groups = vec![
        FAdamConfig::new(),
        FAdamConfig::new().with_weight_decay(0.0),
    ];
    let mut rng = seeded(5);
    let w0 = rng
        .array::<f64>(&[3, 4], 1.0)
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let b0 = rng
        .array::<f64>(&[4], 1.0)
        .into_dimensionality::<ndarray::Ix1>()
        .unwrap();
    let gw = w0.mapv(|x| x * 0.1 + 0.01);
    let gb = b0.mapv(|x| -x * 0.2);

    let (mut w1, mut b1) = (w0.clone(), b0.clone());
    let mut o1 = FAdam::with_groups(groups.clone());
    o1.step_grouped(
        &mut [w1.view_mut().into_dyn(), b1.view_mut().into_dyn()],
        &[gw.view().into_dyn(), gb.view().into_dyn()],
        &[0, 1],
    )
    .unwrap();

    let (mut w2, mut b2) = (w0.clone(), b0.clone());
    let mut o2 = FAdam::with_groups(groups.clone());
    o2.begin_step()
        .param(&mut w2, &gw)
        .param_in_group(1, &mut b2, &gb)
        .finish()
        .unwrap();
    assert_eq!((&w1, &b1), (&w2, &b2));
    assert_eq!(o1, o2);

    // `step` puts everything in group 0.
    let (mut w3, mut b3) = (w0.clone(), b0.clone());
    let mut o3 = FAdam::with_groups(groups);
    o3.step(
        &mut [w3.view_mut().into_dyn(), b3.view_mut().into_dyn()],
        &[gw.view().into_dyn(), gb.view().into_dyn()],
    )
    .unwrap();
    assert_eq!(w3, w1);
    assert_ne!(b3, b1);
    // A leftover: insert_axis views are fine too.
    let mut col = w3.column_mut(0).insert_axis(Axis(1));
    let gcol = ndarray::Array2::<f64>::ones((3, 1));
    FAdam::new(FAdamConfig::new())
        .begin_step()
        .param(&mut col, &gcol)
        .finish()
        .unwrap();
}
