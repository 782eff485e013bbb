//! The configurations that the adapters' conformance tests run: between
//! them they flip every switch of [`FAdamConfig`].

use fadam_core::{DecayMode, EpsilonRule, FAdamConfig, MomentumMode};

/// Configs that between them flip every switch of `fadam-core`, each with a
/// name for test messages.
///
/// ```
/// let cases = fadam_testkit::configs::every_switch();
/// assert!(cases.iter().all(|(_, c)| c.validate().is_ok()));
/// assert_eq!(cases[0].0, "fadam");
/// ```
pub fn every_switch() -> Vec<(&'static str, FAdamConfig)> {
    let fadam = FAdamConfig::new().with_lr(1e-2);
    let adam = FAdamConfig::adam().with_lr(1e-2);
    let adamw = FAdamConfig::adamw().with_lr(1e-2);
    vec![
        ("fadam", fadam),
        ("adam", adam),
        ("adam_l2", adam.with_weight_decay(0.05)),
        ("adamw", adamw.with_weight_decay(0.1)),
        ("adamw_clipped", adamw.with_clip(1.0)),
        ("paper_v3", fadam.with_epsilon_rule(EpsilonRule::PaperV3)),
        ("fixed", fadam.with_epsilon_rule(EpsilonRule::Fixed)),
        ("clip_off", fadam.without_clip()),
        ("tight_clip", fadam.with_clip(0.5)),
        ("maximize", fadam.with_maximize(true)),
        ("natural_no_lambda", fadam.with_weight_decay(0.0)),
        ("decoupled", fadam.with_decay(DecayMode::Decoupled)),
        ("l2", fadam.with_decay(DecayMode::L2)),
        ("no_decay", fadam.with_decay(DecayMode::None)),
        ("power_1", fadam.with_fisher_power(1.0)),
        ("power_0.3", fadam.with_fisher_power(0.3)),
        ("power_0.25", fadam.with_fisher_power(0.25)),
        ("adam_momentum", fadam.with_momentum(MomentumMode::Adam)),
        ("betas", fadam.with_betas(0.5, 0.9)),
        (
            "betas_eps",
            fadam.with_betas(0.8, 0.99).with_eps(1e-6).with_eps2(0.1),
        ),
        ("beta1_0", fadam.with_beta1(0.0)),
    ]
}
