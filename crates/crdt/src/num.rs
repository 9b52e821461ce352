//! Exact sums for counters.
//!
//! Counter increments reach instances in different groupings (runs are folded
//! at different times), so a float sum computed naively would round
//! differently at different instances and they would never converge. [`Sum`]
//! keeps integer increments exactly (i128) and float increments as an exact
//! list of non-overlapping partials (Shewchuk's algorithm), so the sum does
//! not depend on grouping or order; it is rounded once, when read.

/// An increment as a client sent it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Delta {
    Int(i64),
    Float(f64),
}

/// Increments with `|x| >= 2^BIG_EXP` are kept apart, scaled by `2^-SCALE`,
/// so that no partial sum of either list can overflow.
const BIG_EXP: i32 = 511;
const SCALE: i32 = 600;

/// The exact sum of a multiset of increments.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sum {
    pub int: i128,
    /// Exact float partials of the increments with `|x| < 2^511` (and any
    /// infinities / NaN), increasing magnitude, non-overlapping.
    pub float: Vec<f64>,
    /// Exact partials of the increments with `|x| >= 2^511`, each scaled by
    /// `2^-600` (exact: they stay normal), so adding huge increments cannot
    /// overflow an intermediate sum (1.7e308 + 1.7e308 - 1.7e308 is 1.7e308
    /// in every order, not NaN).
    pub big: Vec<f64>,
    /// True once any float increment was added (the counter is then a float).
    pub is_float: bool,
}

impl Sum {
    pub fn of(delta: Delta) -> Sum {
        let mut s = Sum::default();
        s.add(delta);
        s
    }

    pub fn add(&mut self, delta: Delta) {
        match delta {
            Delta::Int(i) => self.int += i as i128,
            Delta::Float(f) => {
                self.is_float = true;
                self.add_float(f)
            }
        }
    }

    fn add_float(&mut self, f: f64) {
        if f.is_finite() && f.abs() >= 2f64.powi(BIG_EXP) {
            add_partial(&mut self.big, f * 2f64.powi(-SCALE))
        } else {
            add_partial(&mut self.float, f)
        }
    }

    pub fn add_sum(&mut self, other: &Sum) {
        self.int += other.int;
        self.is_float |= other.is_float;
        for &f in &other.float {
            add_partial(&mut self.float, f);
        }
        for &f in &other.big {
            add_partial(&mut self.big, f);
        }
    }

    pub fn is_zero_int(&self) -> bool {
        !self.is_float && self.int == 0
    }

    /// The float value (integer part included), correctly rounded once, so
    /// equal exact sums give equal floats whatever their partials look like.
    pub fn to_f64(&self) -> f64 {
        // Infinities and NaN: the result depends only on which were added.
        let specials: Vec<f64> = self.float.iter().copied().filter(|x| !x.is_finite()).collect();
        if !specials.is_empty() {
            let nan = specials.iter().any(|x| x.is_nan());
            let pos = specials.contains(&f64::INFINITY);
            let neg = specials.contains(&f64::NEG_INFINITY);
            return if nan || (pos && neg) {
                f64::NAN
            } else if pos {
                f64::INFINITY
            } else {
                f64::NEG_INFINITY
            };
        }
        let mut p = self.float.clone();
        if self.int != 0 {
            // Three chunks of at most 48 bits, each exact as an f64.
            let mask = (1i128 << 48) - 1;
            add_partial(&mut p, (self.int >> 96) as f64 * 2f64.powi(96));
            add_partial(&mut p, ((self.int >> 48) & mask) as f64 * 2f64.powi(48));
            add_partial(&mut p, (self.int & mask) as f64);
        }
        let Some(&top) = self.big.last() else { return round_partials(&p) };
        // The huge part decides the magnitude. If its largest partial alone
        // overflows, so does the sum: the other partials do not overlap it
        // and the small list is below 2^(511 + 64).
        let up = 2f64.powi(SCALE);
        if !(top * up).is_finite() {
            return top.signum() * f64::INFINITY;
        }
        for &b in &self.big {
            add_partial(&mut p, b * up);
        }
        if p.iter().any(|x| !x.is_finite()) {
            return top.signum() * f64::INFINITY;
        }
        round_partials(&p)
    }
}

/// Correctly rounded value of exact, non-overlapping, increasing partials.
fn round_partials(p: &[f64]) -> f64 {
    let Some(&top) = p.last() else { return 0.0 };
    let mut hi = top;
    let mut lo = 0.0;
    let mut k = p.len() - 1;
    while k > 0 {
        k -= 1;
        let x = hi;
        let y = p[k];
        hi = x + y;
        let yr = hi - x;
        lo = y - yr;
        if lo != 0.0 {
            break;
        }
    }
    if k > 0 && ((lo < 0.0 && p[k - 1] < 0.0) || (lo > 0.0 && p[k - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
}

/// Adds `x` to a list of exact partials (Shewchuk / msum).
fn add_partial(partials: &mut Vec<f64>, mut x: f64) {
    if !x.is_finite() {
        partials.push(x);
        return;
    }
    let mut i = 0;
    for j in 0..partials.len() {
        let mut y = partials[j];
        if !y.is_finite() {
            partials[i] = y;
            i += 1;
            continue;
        }
        if x.abs() < y.abs() {
            std::mem::swap(&mut x, &mut y);
        }
        let hi = x + y;
        let lo = y - (hi - x);
        if lo != 0.0 {
            partials[i] = lo;
            i += 1;
        }
        x = hi;
    }
    partials.truncate(i);
    if x != 0.0 {
        partials.push(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_sum_does_not_depend_on_grouping() {
        let xs = [0.1, 0.2, 0.3, 1e16, -1e16, 0.7, 3.3e-5];
        let mut a = Sum::default();
        for &x in &xs {
            a.add(Delta::Float(x));
        }
        let mut b1 = Sum::default();
        let mut b2 = Sum::default();
        for &x in xs.iter().rev().take(3) {
            b1.add(Delta::Float(x));
        }
        for &x in xs.iter().take(4) {
            b2.add(Delta::Float(x));
        }
        b2.add_sum(&b1);
        assert_eq!(a.to_f64(), b2.to_f64());
        assert_eq!(a.to_f64(), 1.3000330000000001);
    }

    #[test]
    fn int_and_float_mix() {
        let mut s = Sum::of(Delta::Int(10));
        s.add(Delta::Float(0.5));
        assert!(s.is_float);
        assert_eq!(s.to_f64(), 10.5);
        let big = Sum::of(Delta::Int(i64::MAX));
        let mut t = big.clone();
        t.add_sum(&big);
        assert_eq!(t.int, 2 * i64::MAX as i128);
    }
}
