//! The arithmetic of Telederm's reports (issue 17): statistical disclosure control, working-day
//! percentiles, and the comparison of a group's rate with the rest of its service. Pure; the
//! figures are gathered by the store and assembled by `telederm_app::reports`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::outcome::OutcomeCode;

/// Counts from 1 to this minus one are suppressed (NHS publications' "counts below 5").
pub const SUPPRESS_BELOW: u64 = 5;

/// Whether a count is suppressed on its own account (primary suppression). A zero is shown: it
/// says nothing about a person.
pub fn primarily_suppressed(count: u64) -> bool {
    count > 0 && count < SUPPRESS_BELOW
}

/// Statistical disclosure control over a table of counts.
///
/// `groups` are sets of cells tied by one published relation (a row or a column with its total,
/// a total cell with its parts, two cells that must be equal): a suppressed cell in a group where
/// every other cell is shown could be worked out by subtraction, so the smallest other cell of
/// that group is suppressed too (secondary suppression), and so on until no group has exactly one
/// suppressed cell. Returns, for each value, whether it is
/// suppressed.
pub fn suppress(values: &[u64], groups: &[Vec<usize>]) -> Vec<bool> {
    let mut hidden: Vec<bool> = values.iter().map(|v| primarily_suppressed(*v)).collect();
    loop {
        let mut changed = false;
        for group in groups {
            let suppressed = group.iter().filter(|i| hidden[**i]).count();
            if suppressed != 1 || group.len() < 2 {
                continue;
            }
            // The smallest shown cell of the group (ties: the first), preferring a non-zero one:
            // hiding a zero protects the cell only if a reader cannot tell it is zero, and a
            // non-zero count of any size does that.
            let pick = group
                .iter()
                .copied()
                .filter(|i| !hidden[*i])
                .min_by_key(|i| (values[*i] == 0, values[*i]));
            if let Some(i) = pick {
                hidden[i] = true;
                changed = true;
            }
        }
        if !changed {
            return hidden;
        }
    }
}

/// The median and 90th percentile of working days, from a histogram (days -> referrals). The
/// median of an even count is the mean of the two middle values; the 90th percentile is the
/// nearest rank (the smallest value with at least 90% of referrals at or below it). `None` when
/// the histogram is empty.
pub fn median_and_p90(histogram: &BTreeMap<u32, u64>) -> Option<(f64, u32)> {
    let n: u64 = histogram.values().sum();
    if n == 0 {
        return None;
    }
    // The value at 1-based rank `k`.
    let at_rank = |k: u64| -> u32 {
        let mut seen = 0;
        for (days, count) in histogram {
            seen += count;
            if seen >= k {
                return *days;
            }
        }
        *histogram.keys().next_back().unwrap_or(&0)
    };
    let median = if n % 2 == 1 {
        f64::from(at_rank(n.div_ceil(2)))
    } else {
        (f64::from(at_rank(n / 2)) + f64::from(at_rank(n / 2 + 1))) / 2.0
    };
    let p90 = at_rank((n * 9).div_ceil(10));
    Some((median, p90))
}

/// A group's rate beside the rest of its service's: the difference, its 95% confidence interval
/// (Wald) and a two-sided two-proportion z-test (pooled). `significant` when p < 0.05, which is
/// the same as the interval leaving out zero in all but borderline cases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Comparison {
    /// The group's rate (0 to 1).
    pub rate: f64,
    /// The rate among the service's other referrals.
    pub rest_rate: f64,
    /// `rate - rest_rate`.
    pub difference: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub p_value: f64,
    /// Larger than chance alone would often make it (p < 0.05).
    pub significant: bool,
}

/// Compares `x` of `n` in a group with the rest of a service that has `total_x` of `total_n`
/// (the group included). `None` when either side has no referrals.
pub fn compare_with_rest(x: u64, n: u64, total_x: u64, total_n: u64) -> Option<Comparison> {
    if n == 0 || total_n <= n || x > n || total_x < x || total_x - x > total_n - n {
        return None;
    }
    let (rx, rn) = (total_x - x, total_n - n);
    let (p1, p2) = (x as f64 / n as f64, rx as f64 / rn as f64);
    let (n1, n2) = (n as f64, rn as f64);
    let difference = p1 - p2;
    let se = (p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2).sqrt();
    let pooled = (x + rx) as f64 / (n1 + n2);
    let se_pooled = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let p_value = if se_pooled > 0.0 { 2.0 * (1.0 - normal_cdf((difference / se_pooled).abs())) } else { 1.0 };
    Some(Comparison {
        rate: p1,
        rest_rate: p2,
        difference,
        ci_low: difference - 1.959_963_985 * se,
        ci_high: difference + 1.959_963_985 * se,
        p_value: p_value.clamp(0.0, 1.0),
        significant: p_value < 0.05,
    })
}

/// The standard normal distribution function (Abramowitz and Stegun 7.1.26; error below 1.5e-7,
/// ample for a p-value shown to two places).
pub fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

/// The photo check's skin-tone bands, lightest first (`telederm_imaging::ToneBand` names them).
pub const TONE_BANDS: [&str; 6] = ["very_light", "light", "intermediate", "tan", "brown", "dark"];

/// Age bands for equity reporting (age on the day the referral was received).
pub const AGE_BANDS: [&str; 6] = ["0-17", "18-29", "30-44", "45-64", "65-74", "75+"];

pub fn age_band(age: u32) -> &'static str {
    match age {
        0..=17 => AGE_BANDS[0],
        18..=29 => AGE_BANDS[1],
        30..=44 => AGE_BANDS[2],
        45..=64 => AGE_BANDS[3],
        65..=74 => AGE_BANDS[4],
        _ => AGE_BANDS[5],
    }
}

/// Whether an outcome answered the question without a face-to-face appointment (advice and a
/// management plan, or no further action). `None` for a rejection, which is not a way of managing
/// the patient and is left out of the share.
pub fn managed_without_face_to_face(code: OutcomeCode) -> Option<bool> {
    match code {
        OutcomeCode::Rejected => None,
        OutcomeCode::AdviceManagementPlan | OutcomeCode::NoFurtherAction => Some(true),
        _ => Some(false),
    }
}

/// The tone band most of a referral's photos show (ties: the darker band, so a mixed referral
/// is not counted in the lighter group by default); `None` when no photo had enough skin.
pub fn referral_tone_band<'a>(bands: impl IntoIterator<Item = &'a str>, order: &[&str]) -> Option<String> {
    let mut counts: BTreeMap<usize, usize> = BTreeMap::new();
    for b in bands {
        if let Some(i) = order.iter().position(|o| *o == b) {
            *counts.entry(i).or_default() += 1;
        }
    }
    let best = counts.iter().max_by_key(|(i, n)| (**n, **i))?;
    Some(order[*best.0].to_string())
}

/// Monday of the week holding `day` (the dashboard's weeks).
pub fn week_start(day: chrono::NaiveDate) -> chrono::NaiveDate {
    use chrono::Datelike;
    day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn four_is_suppressed_and_five_is_shown() {
        assert!(primarily_suppressed(4));
        assert!(primarily_suppressed(1));
        assert!(!primarily_suppressed(5));
        assert!(!primarily_suppressed(0));
    }

    #[test]
    fn a_lone_suppressed_cell_takes_the_smallest_other_with_it() {
        // One row with its total published: 3 alone could be recovered from 3 + 20 + 7 = 30.
        let hidden = suppress(&[3, 20, 7], &[vec![0, 1, 2]]);
        assert_eq!(hidden, vec![true, false, true]);
    }

    #[test]
    fn two_suppressed_cells_need_no_more() {
        let hidden = suppress(&[3, 2, 40], &[vec![0, 1, 2]]);
        assert_eq!(hidden, vec![true, true, false]);
    }

    #[test]
    fn secondary_suppression_spreads_across_rows_and_columns() {
        // 2x2 table with row and column totals: cell 0 is 4. Row {0,1} then hides 1 (10), column
        // {0,2} hides 2 (6); column {1,3} then has one hidden cell and hides 3 as well.
        let values = [4, 10, 6, 12];
        let groups = vec![vec![0, 1], vec![2, 3], vec![0, 2], vec![1, 3]];
        let hidden = suppress(&values, &groups);
        assert_eq!(hidden, vec![true, true, true, true]);
    }

    #[test]
    fn zeros_are_hidden_only_when_nothing_else_protects() {
        let hidden = suppress(&[3, 0, 9], &[vec![0, 1, 2]]);
        assert_eq!(hidden, vec![true, false, true]);
        let hidden = suppress(&[3, 0], &[vec![0, 1]]);
        assert_eq!(hidden, vec![true, true]);
    }

    #[test]
    fn median_and_p90_of_known_lists() {
        let h: BTreeMap<u32, u64> = [(1, 1), (2, 1), (3, 1), (4, 1)].into();
        assert_eq!(median_and_p90(&h), Some((2.5, 4)));
        let h: BTreeMap<u32, u64> = [(2, 9), (10, 1)].into();
        assert_eq!(median_and_p90(&h), Some((2.0, 2)));
        let h: BTreeMap<u32, u64> = [(2, 8), (10, 2)].into();
        assert_eq!(median_and_p90(&h), Some((2.0, 10)));
        assert_eq!(median_and_p90(&BTreeMap::new()), None);
    }

    #[test]
    fn a_large_difference_is_significant_and_an_equal_rate_is_not() {
        // 30 of 100 against 10 of 100 elsewhere: a textbook significant difference.
        let c = compare_with_rest(30, 100, 40, 200).unwrap();
        assert!((c.difference - 0.2).abs() < 1e-9);
        assert!(c.significant && c.p_value < 0.001, "{c:?}");
        assert!(c.ci_low > 0.0 && c.ci_high < 0.35);
        let same = compare_with_rest(10, 100, 20, 200).unwrap();
        assert!(!same.significant && (same.p_value - 1.0).abs() < 1e-6);
        assert_eq!(compare_with_rest(5, 100, 5, 100), None, "no rest to compare with");
    }

    #[test]
    fn normal_cdf_matches_the_tables() {
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(-1.0) - 0.158_655).abs() < 1e-6);
    }

    #[test]
    fn age_bands_have_edges_where_the_names_say() {
        assert_eq!(age_band(17), "0-17");
        assert_eq!(age_band(18), "18-29");
        assert_eq!(age_band(64), "45-64");
        assert_eq!(age_band(75), "75+");
    }

    #[test]
    fn tone_band_is_the_commonest_and_a_tie_goes_darker() {
        let order = ["light", "brown", "dark"];
        assert_eq!(referral_tone_band(["light", "light", "brown"], &order).as_deref(), Some("light"));
        assert_eq!(referral_tone_band(["light", "brown"], &order).as_deref(), Some("brown"));
        assert_eq!(referral_tone_band(["unknown"], &order), None);
    }

    proptest! {
        /// Whatever the table, no shown count is below 5 (above 0), and no published total has
        /// exactly one hidden cell in it.
        #[test]
        fn suppression_leaves_nothing_recoverable(
            rows in 1usize..5,
            cols in 1usize..5,
            cells in proptest::collection::vec(0u64..12, 25),
        ) {
            let values: Vec<u64> = cells[..rows * cols].to_vec();
            let mut groups = Vec::new();
            for r in 0..rows { groups.push((0..cols).map(|c| r * cols + c).collect::<Vec<_>>()); }
            for c in 0..cols { groups.push((0..rows).map(|r| r * cols + c).collect::<Vec<_>>()); }
            let hidden = suppress(&values, &groups);
            for (v, h) in values.iter().zip(&hidden) {
                prop_assert!(*h || !primarily_suppressed(*v));
            }
            for g in groups.iter().filter(|g| g.len() > 1) {
                prop_assert_ne!(g.iter().filter(|i| hidden[**i]).count(), 1);
            }
        }

        #[test]
        fn median_lies_between_min_and_p90(values in proptest::collection::vec(0u32..30, 1..60)) {
            let mut h = BTreeMap::new();
            for v in &values { *h.entry(*v).or_insert(0u64) += 1; }
            let (median, p90) = median_and_p90(&h).unwrap();
            let min = *values.iter().min().unwrap();
            let max = *values.iter().max().unwrap();
            prop_assert!(median >= f64::from(min) && median <= f64::from(p90));
            prop_assert!(p90 <= max);
            let at_or_below = values.iter().filter(|v| **v <= p90).count();
            prop_assert!(at_or_below * 10 >= values.len() * 9);
        }
    }
}
