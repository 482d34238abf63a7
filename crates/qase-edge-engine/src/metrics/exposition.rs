//! The Prometheus text exposition format, version 0.0.4 (what Prometheus
//! scrapes and `prometheus_client` parses): families, each with its
//! `# HELP` and `# TYPE`, then its samples. Names are checked, label values
//! and help texts escaped as the format says, and the output is
//! deterministic (families in the order given, samples sorted by their
//! labels), so two scrapes of the same figures are the same bytes.
//! <https://prometheus.io/docs/instrumenting/exposition_formats/>

use std::fmt::Write;

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (a reset reads as one: Prometheus' `rate` allows for it).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// One series: its labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// `(name, value)`, in the order written.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

/// A metric family: a name, its help, its type and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The name every sample carries (a counter's ends in `_total`).
    pub name: &'static str,
    /// What it counts, in one line.
    pub help: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// Its series.
    pub samples: Vec<Sample>,
}

impl Family {
    /// An empty family.
    pub fn new(name: &'static str, help: &'static str, kind: Kind) -> Family {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    /// Adds a series.
    pub fn sample(&mut self, labels: &[(&'static str, &str)], value: f64) {
        self.samples.push(Sample {
            labels: labels.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
            value,
        });
    }
}

/// Why a family cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpositionError {
    /// A metric name outside `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    MetricName(String),
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`, or reserved (`__`).
    LabelName(String),
    /// A counter whose name does not end in `_total`.
    CounterName(String),
    /// Two series of one family with the same labels.
    DuplicateSeries(String),
}

impl std::fmt::Display for ExpositionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpositionError::MetricName(name) => write!(f, "invalid metric name `{name}`"),
            ExpositionError::LabelName(name) => write!(f, "invalid label name `{name}`"),
            ExpositionError::CounterName(name) => {
                write!(f, "counter `{name}` must end in `_total`")
            }
            ExpositionError::DuplicateSeries(name) => {
                write!(f, "`{name}` has two series with the same labels")
            }
        }
    }
}

impl std::error::Error for ExpositionError {}

/// Whether `name` is a metric name.
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a label name (not one of the reserved `__` names).
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A label value as the format writes it between quotes: `\`, `"` and a
/// line feed escaped.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A help text as the format writes it: `\` and a line feed escaped.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A value: integers without a fraction, and the format's `NaN`, `+Inf`
/// and `-Inf`.
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

fn check(family: &Family) -> Result<(), ExpositionError> {
    if !is_metric_name(family.name) {
        return Err(ExpositionError::MetricName(family.name.to_owned()));
    }
    if family.kind == Kind::Counter && !family.name.ends_with("_total") {
        return Err(ExpositionError::CounterName(family.name.to_owned()));
    }
    for sample in &family.samples {
        if let Some((name, _)) = sample.labels.iter().find(|(name, _)| !is_label_name(name)) {
            return Err(ExpositionError::LabelName((*name).to_owned()));
        }
    }
    Ok(())
}

/// The text of `families`: each family's `# HELP` and `# TYPE` lines, then
/// its samples sorted by label values. A family without samples is still
/// described, so a dashboard sees the name.
pub fn render(families: &[Family]) -> Result<String, ExpositionError> {
    let mut out = String::new();
    for family in families {
        check(family)?;
        let mut samples: Vec<&Sample> = family.samples.iter().collect();
        samples.sort_by(|a, b| a.labels.cmp(&b.labels));
        if samples
            .windows(2)
            .any(|pair| pair[0].labels == pair[1].labels)
        {
            return Err(ExpositionError::DuplicateSeries(family.name.to_owned()));
        }
        // `write!` to a `String` cannot fail.
        let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
        let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
        for sample in samples {
            out.push_str(family.name);
            if !sample.labels.is_empty() {
                let labels: Vec<String> = sample
                    .labels
                    .iter()
                    .map(|(name, value)| format!("{name}=\"{}\"", escape_label_value(value)))
                    .collect();
                let _ = write!(out, "{{{}}}", labels.join(","));
            }
            let _ = writeln!(out, " {}", format_value(sample.value));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        assert_eq!(escape_label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label_value("line\nnext"), "line\\nnext");
        assert_eq!(escape_label_value("tab\tand é"), "tab\tand é");
        assert_eq!(escape_label_value("\\n"), "\\\\n", "a literal backslash-n");
    }

    #[test]
    fn names_are_checked() {
        for good in ["qase_edge_events_total", "a:b", "_x", "X9"] {
            assert!(is_metric_name(good), "{good}");
        }
        for bad in ["", "9a", "a-b", "a b", "é"] {
            assert!(!is_metric_name(bad), "{bad}");
        }
        for good in ["project", "_a", "a9"] {
            assert!(is_label_name(good), "{good}");
        }
        for bad in ["", "__name__", "a:b", "9a", "a-b"] {
            assert!(!is_label_name(bad), "{bad}");
        }
        let mut counter = Family::new("qase_edge_events", "h", Kind::Counter);
        counter.sample(&[], 1.0);
        assert_eq!(
            render(&[counter]),
            Err(ExpositionError::CounterName("qase_edge_events".into()))
        );
        let mut labels = Family::new("m", "h", Kind::Gauge);
        labels.sample(&[("bad-label", "x")], 1.0);
        assert_eq!(
            render(&[labels]),
            Err(ExpositionError::LabelName("bad-label".into()))
        );
        assert_eq!(
            render(&[Family::new("bad name", "h", Kind::Gauge)]),
            Err(ExpositionError::MetricName("bad name".into()))
        );
    }

    #[test]
    fn families_keep_their_order_and_samples_are_sorted() {
        let mut b = Family::new("b_total", "B, with a \\ and\na line.", Kind::Counter);
        b.sample(&[("d", "z")], 2.0);
        b.sample(&[("d", "a\"q")], 1.5);
        let mut a = Family::new("a", "A.", Kind::Gauge);
        a.sample(&[], 0.0);
        let empty = Family::new("c", "C.", Kind::Gauge);
        let text = render(&[b.clone(), a, empty]).unwrap();
        assert_eq!(
            text,
            "# HELP b_total B, with a \\\\ and\\na line.\n# TYPE b_total counter\n\
             b_total{d=\"a\\\"q\"} 1.5\nb_total{d=\"z\"} 2\n\
             # HELP a A.\n# TYPE a gauge\na 0\n# HELP c C.\n# TYPE c gauge\n"
        );
        let mut reversed = b.clone();
        reversed.samples.reverse();
        assert_eq!(render(&[reversed]), render(&[b.clone()]), "deterministic");
        b.sample(&[("d", "z")], 3.0);
        assert_eq!(
            render(&[b]),
            Err(ExpositionError::DuplicateSeries("b_total".into()))
        );
    }

    #[test]
    fn values_are_written_as_the_format_reads_them() {
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.75), "0.75");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(-2.0), "-2");
    }
}
