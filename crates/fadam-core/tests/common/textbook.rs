//! Adam and AdamW as the papers and `torch.optim` write them, with the raw
//! second moment `v` and explicit bias corrections. Independent of the spec's
//! reformulation (`f = v̂` through `b2`), so agreement tests that rewrite.

#[derive(Clone, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW's decoupled decay instead of Adam's L2 penalty.
    pub decoupled: bool,
    pub m: Vec<f64>,
    pub v: Vec<f64>,
    pub t: i32,
}

impl Adam {
    pub fn new(
        n: usize,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
    ) -> Self {
        Self {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
            decoupled,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    pub fn step(&mut self, theta: &mut [f64], grad: &[f64]) {
        self.t += 1;
        let bc1 = 1.0 - self.beta1.powi(self.t);
        let bc2 = 1.0 - self.beta2.powi(self.t);
        for i in 0..theta.len() {
            let mut g = grad[i];
            if self.decoupled {
                theta[i] *= 1.0 - self.lr * self.weight_decay;
            } else {
                g += self.weight_decay * theta[i];
            }
            self.m[i] = self.beta1 * self.m[i] + (1.0 - self.beta1) * g;
            self.v[i] = self.beta2 * self.v[i] + (1.0 - self.beta2) * g * g;
            let m_hat = self.m[i] / bc1;
            let v_hat = self.v[i] / bc2;
            theta[i] -= self.lr * m_hat / (v_hat.sqrt() + self.eps);
        }
    }
}
