//! Routing rules: which events, from which projects, go to which targets
//! (sinks or destinations, named by the caller).
//!
//! A pattern is an exact value or a glob in which `*` matches any run of
//! characters (`run.*`, `*.deleted`, `*`). Matching is linear in the length
//! of the pattern and the value, whatever the input (no backtracking blow-up).
//!
//! Rules are JSON, as they come from a Worker's `[vars]`:
//! `[{"events": ["run.*"], "projects": ["WEB"], "to": ["queue"]}]`. An empty
//! or absent `events` or `projects` list matches everything. A delivery goes
//! to the union of the targets of every rule it matches.

use std::collections::BTreeSet;

use serde::Deserialize;
use thiserror::Error;

/// A pattern over event names or project codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The pattern split at each `*`: `run.*` is `["run.", ""]`.
    parts: Vec<String>,
}

/// A rule set that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("rule {rule}: {problem}")]
pub struct RouteError {
    /// 0-based index of the rule at fault (or of the pattern list's owner).
    pub rule: usize,
    /// What is wrong with it.
    pub problem: String,
}

impl Pattern {
    /// Parses a pattern; it must be non-empty.
    ///
    /// ```
    /// use qase_webhooks::routing::Pattern;
    ///
    /// let pattern = Pattern::new("*.deleted").unwrap();
    /// assert!(pattern.matches("run.deleted"));
    /// assert!(!pattern.matches("run.completed"));
    /// assert!(Pattern::new("").is_none());
    /// ```
    pub fn new(pattern: &str) -> Option<Pattern> {
        if pattern.is_empty() {
            return None;
        }
        Some(Pattern {
            parts: pattern.split('*').map(str::to_owned).collect(),
        })
    }

    /// Whether `value` matches the pattern.
    pub fn matches(&self, value: &str) -> bool {
        let (first, rest) = self.parts.split_first().expect("split yields one part");
        let Some(mut remaining) = value.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return remaining.is_empty(); // no `*`: exact match
        };
        // Greedy leftmost matching of the middle parts is correct for `*`-only
        // globs: taking the earliest occurrence never prevents a later match.
        for part in middle {
            match remaining.find(part.as_str()) {
                Some(at) => remaining = &remaining[at + part.len()..],
                None => return false,
            }
        }
        remaining.len() >= last.len() && remaining.ends_with(last.as_str())
    }
}

/// Which deliveries something applies to: event and project patterns, each
/// list matching everything when empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    events: Vec<Pattern>,
    projects: Vec<Pattern>,
}

impl Filter {
    /// A filter from pattern lists; an empty pattern is refused.
    pub fn new(events: &[String], projects: &[String]) -> Result<Filter, String> {
        let patterns = |values: &[String], what: &str| {
            values
                .iter()
                .map(|value| Pattern::new(value).ok_or_else(|| format!("empty {what} pattern")))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Filter {
            events: patterns(events, "event")?,
            projects: patterns(projects, "project")?,
        })
    }

    /// Whether the filter covers `event_name` in `project_code`.
    pub fn matches(&self, event_name: &str, project_code: &str) -> bool {
        let any = |patterns: &[Pattern], value: &str| {
            patterns.is_empty() || patterns.iter().any(|p| p.matches(value))
        };
        any(&self.events, event_name) && any(&self.projects, project_code)
    }

    /// Whether the filter covers `project_code`, whatever the event (for
    /// what is about a project but is no Qase event, such as a run report).
    pub fn matches_project(&self, project_code: &str) -> bool {
        self.projects.is_empty() || self.projects.iter().any(|p| p.matches(project_code))
    }
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    filter: Filter,
    to: Vec<String>,
}

impl Rule {
    /// Whether the rule covers `event_name` in `project_code`.
    pub fn matches(&self, event_name: &str, project_code: &str) -> bool {
        self.filter.matches(event_name, project_code)
    }

    /// The targets the rule sends to.
    pub fn targets(&self) -> &[String] {
        &self.to
    }
}

/// An ordered set of rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Routes {
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
    to: Vec<String>,
}

impl Routes {
    /// One rule sending everything to `targets`.
    pub fn everything_to(targets: impl IntoIterator<Item = String>) -> Routes {
        Routes {
            rules: vec![Rule {
                filter: Filter::default(),
                to: targets.into_iter().collect(),
            }],
        }
    }

    /// Parses rules from JSON; `known_targets` lists the target names that
    /// may appear in `to`.
    ///
    /// ```
    /// use qase_webhooks::routing::Routes;
    ///
    /// let routes = Routes::parse(
    ///     r#"[{"events": ["run.*"], "projects": ["WEB"], "to": ["queue"]},
    ///         {"events": ["*.deleted"], "to": ["kv"]}]"#,
    ///     &["kv", "queue"],
    /// )
    /// .unwrap();
    /// let targets: Vec<&str> = routes.targets("run.completed", "WEB").into_iter().collect();
    /// assert_eq!(targets, ["queue"]);
    /// assert_eq!(routes.targets("run.deleted", "WEB").len(), 2);
    /// assert!(routes.targets("case.created", "WEB").is_empty());
    ///
    /// let error = Routes::parse(r#"[{"to": ["s3"]}]"#, &["kv"]).unwrap_err();
    /// assert_eq!(error.rule, 0);
    /// ```
    pub fn parse(json: &str, known_targets: &[&str]) -> Result<Routes, RouteError> {
        let raw: Vec<RawRule> = serde_json::from_str(json).map_err(|err| RouteError {
            rule: 0,
            problem: format!(
                "must be a JSON array of {{\"events\", \"projects\", \"to\"}} objects ({})",
                crate::error::strip_position(&err.to_string())
            ),
        })?;
        let rules = raw
            .into_iter()
            .enumerate()
            .map(|(index, rule)| {
                let fail = |problem: String| RouteError {
                    rule: index,
                    problem,
                };
                if rule.to.is_empty() {
                    return Err(fail("`to` must name at least one target".into()));
                }
                if let Some(unknown) = rule
                    .to
                    .iter()
                    .find(|t| !known_targets.contains(&t.as_str()))
                {
                    return Err(fail(format!(
                        "unknown target `{unknown}` (known: {})",
                        known_targets.join(", ")
                    )));
                }
                Ok(Rule {
                    filter: Filter::new(&rule.events, &rule.projects).map_err(fail)?,
                    to: rule.to,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Routes { rules })
    }

    /// The union of the targets of every rule that covers the delivery;
    /// empty when none does.
    pub fn targets(&self, event_name: &str, project_code: &str) -> BTreeSet<&str> {
        self.rules
            .iter()
            .filter(|rule| rule.matches(event_name, project_code))
            .flat_map(|rule| rule.to.iter().map(String::as_str))
            .collect()
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(p: &str) -> Pattern {
        Pattern::new(p).unwrap()
    }

    #[test]
    fn exact_patterns_match_only_themselves() {
        assert!(glob("run.completed").matches("run.completed"));
        assert!(!glob("run.completed").matches("run.completed2"));
        assert!(!glob("run.completed").matches("run.complete"));
    }

    #[test]
    fn stars_match_any_run_of_characters() {
        assert!(glob("run.*").matches("run.completed"));
        assert!(glob("run.*").matches("run."));
        assert!(!glob("run.*").matches("review.merged"));
        assert!(glob("*.deleted").matches("case.deleted"));
        assert!(!glob("*.deleted").matches("case.deleted.x"));
        assert!(glob("*").matches(""));
        assert!(glob("r*.*d").matches("review.merged"));
        assert!(glob("a*a").matches("aa"));
        assert!(!glob("a*a").matches("a"));
        assert!(glob("**").matches("anything"));
    }

    #[test]
    fn pathological_globs_stay_linear() {
        let pattern = glob(&"a*".repeat(50));
        let value = "a".repeat(10_000) + "b";
        assert!(pattern.matches(&value));
        assert!(!glob(&("a*".repeat(50) + "c")).matches(&value));
    }

    #[test]
    fn targets_are_the_union_of_matching_rules() {
        let routes = Routes::parse(
            r#"[{"events":["run.*"],"to":["queue"]},
                {"projects":["WEB"],"to":["kv"]},
                {"events":["case.created"],"projects":["API"],"to":["kv","queue"]}]"#,
            &["kv", "queue"],
        )
        .unwrap();
        let set = |e, p| routes.targets(e, p).into_iter().collect::<Vec<_>>();
        assert_eq!(set("run.started", "API"), ["queue"]);
        assert_eq!(set("run.started", "WEB"), ["kv", "queue"]);
        assert_eq!(set("case.created", "API"), ["kv", "queue"]);
        assert!(set("case.created", "OPS").is_empty());
    }

    #[test]
    fn bad_rules_name_the_rule_and_the_problem() {
        let err = |json| Routes::parse(json, &["kv"]).unwrap_err();
        assert_eq!(err("{}").rule, 0);
        assert!(err(r#"[{"to":["kv"]},{"to":["s3"]}]"#)
            .problem
            .contains("unknown target `s3`"));
        assert_eq!(err(r#"[{"to":["kv"]},{"to":["s3"]}]"#).rule, 1);
        assert!(err(r#"[{"to":[]}]"#).problem.contains("at least one"));
        assert!(err(r#"[{"events":[""],"to":["kv"]}]"#)
            .problem
            .contains("empty event"));
        assert!(err(r#"[{"event":["x"],"to":["kv"]}]"#)
            .problem
            .contains("unknown field"));
    }
}
