//! template.yaml read the way CloudFormation reads it, for the local stack: YAML short-form
//! tags turned into intrinsic functions, parameters with their defaults (and overrides),
//! conditions, SAM's `Globals`, and the intrinsics the template uses (`Ref`, `Fn::GetAtt`,
//! `Fn::Sub`, `Fn::If`, `Fn::Join`, `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`,
//! `Fn::Select`, `Fn::Split`, `AWS::NoValue`). Anything else is an error naming it, so a
//! template change the local stack cannot follow fails loudly instead of drifting.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("template has no {0} section")]
    Missing(&'static str),
    #[error("{at}: {problem}")]
    Invalid { at: String, problem: String },
    #[error(
        "{at}: unsupported intrinsic {name} (the local stack follows only what template.yaml uses)"
    )]
    Unsupported { at: String, name: String },
    #[error(
        "{at}: {target} is not known yet (unknown resource or parameter, or a dependency cycle)"
    )]
    Unresolved { at: String, target: String },
    #[error("resources depend on each other in a cycle: {0}")]
    Cycle(String),
}

fn invalid(at: &str, problem: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        at: at.to_string(),
        problem: problem.into(),
    }
}

/// One resource as written (properties unresolved).
#[derive(Debug, Clone)]
pub struct Resource {
    pub logical_id: String,
    pub kind: String,
    pub condition: Option<String>,
    pub depends_on: Vec<String>,
    pub metadata: Value,
    pub properties: Value,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub parameters: Map<String, Value>,
    pub conditions: Map<String, Value>,
    /// SAM `Globals.Function`, merged under each function's properties.
    pub function_globals: Value,
    pub resources: Vec<Resource>,
}

/// YAML short forms (`!Ref x`, `!GetAtt a.b`, `!Sub ...`) as their long JSON forms.
fn to_json(value: serde_yaml::Value) -> Result<Value, TemplateError> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).map_err(|e| invalid("number", e.to_string()))?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    other => serde_yaml::to_string(&other)?.trim().to_string(),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value)?;
            let (key, inner) = match name {
                "Ref" => ("Ref".to_string(), inner),
                "Condition" => ("Condition".to_string(), inner),
                "GetAtt" => {
                    let inner = match inner {
                        Value::String(s) => {
                            let (resource, attribute) = s.split_once('.').ok_or_else(|| {
                                invalid("!GetAtt", format!("{s:?} is not Resource.Attribute"))
                            })?;
                            Value::Array(vec![resource.into(), attribute.into()])
                        }
                        other => other,
                    };
                    ("Fn::GetAtt".to_string(), inner)
                }
                other => (format!("Fn::{other}"), inner),
            };
            let mut out = Map::new();
            out.insert(key, inner);
            Value::Object(out)
        }
    })
}

impl Template {
    pub fn load(path: &std::path::Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let root = to_json(serde_yaml::from_str(text)?)?;
        let section = |name: &str| root.get(name).and_then(Value::as_object).cloned();
        let mut resources = Vec::new();
        for (logical_id, body) in section("Resources").ok_or(TemplateError::Missing("Resources"))? {
            let kind = body["Type"]
                .as_str()
                .ok_or_else(|| invalid(&logical_id, "resource has no Type"))?
                .to_string();
            let depends_on = match &body["DependsOn"] {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            };
            resources.push(Resource {
                kind,
                condition: body["Condition"].as_str().map(String::from),
                depends_on,
                metadata: body.get("Metadata").cloned().unwrap_or(Value::Null),
                properties: body
                    .get("Properties")
                    .cloned()
                    .unwrap_or_else(|| Value::Object(Map::new())),
                logical_id,
            });
        }
        Ok(Self {
            parameters: section("Parameters").unwrap_or_default(),
            conditions: section("Conditions").unwrap_or_default(),
            function_globals: root
                .pointer("/Globals/Function")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new())),
            resources,
        })
    }

    /// Resources in an order where everything a resource references (Ref, GetAtt, Sub,
    /// DependsOn) comes before it.
    pub fn creation_order(&self) -> Result<Vec<&Resource>, TemplateError> {
        let ids: BTreeSet<&str> = self
            .resources
            .iter()
            .map(|r| r.logical_id.as_str())
            .collect();
        let mut deps: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for r in &self.resources {
            let mut refs = BTreeSet::new();
            references(&r.properties, &mut refs);
            refs.extend(r.depends_on.iter().cloned());
            refs.retain(|d| ids.contains(d.as_str()) && d != &r.logical_id);
            deps.insert(&r.logical_id, refs);
        }
        let mut done: BTreeSet<String> = BTreeSet::new();
        let mut order = Vec::new();
        while order.len() < self.resources.len() {
            let ready: Vec<&Resource> = self
                .resources
                .iter()
                .filter(|r| !done.contains(&r.logical_id))
                .filter(|r| deps[r.logical_id.as_str()].iter().all(|d| done.contains(d)))
                .collect();
            if ready.is_empty() {
                let left: Vec<&str> = self
                    .resources
                    .iter()
                    .filter(|r| !done.contains(&r.logical_id))
                    .map(|r| r.logical_id.as_str())
                    .collect();
                return Err(TemplateError::Cycle(left.join(", ")));
            }
            for r in ready {
                done.insert(r.logical_id.clone());
                order.push(r);
            }
        }
        Ok(order)
    }
}

/// Logical ids referenced by `value` (Ref, GetAtt and `${Name}` / `${Name.Attr}` in Sub).
fn references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("Ref", Value::String(s)) => {
                        out.insert(s.clone());
                    }
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(s) = parts.first().and_then(Value::as_str) {
                            out.insert(s.to_string());
                        }
                    }
                    ("Fn::Sub", v) => {
                        let text = match v {
                            Value::String(s) => Some(s.as_str()),
                            Value::Array(items) => items.first().and_then(Value::as_str),
                            _ => None,
                        };
                        for name in text.map(sub_variables).unwrap_or_default() {
                            let base = name.split('.').next().unwrap_or_default();
                            out.insert(base.to_string());
                        }
                        references(v, out);
                    }
                    _ => references(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// `${Name}` variables of a Sub string (`${!Literal}` is not a variable).
fn sub_variables(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') {
            out.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    out
}

/// What a created resource answers to `Ref` and `Fn::GetAtt`.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    pub reference: String,
    pub attributes: HashMap<String, String>,
}

/// Resolution context: pseudo parameters, parameter values, conditions, created resources.
#[derive(Debug, Clone)]
pub struct Context {
    pub stack_name: String,
    pub region: String,
    pub account: String,
    pub parameters: HashMap<String, Value>,
    pub conditions: HashMap<String, bool>,
    pub resources: HashMap<String, Physical>,
}

impl Context {
    /// Parameters take `overrides` first, then their defaults; conditions are evaluated.
    pub fn new(
        template: &Template,
        stack_name: &str,
        region: &str,
        account: &str,
        overrides: &HashMap<String, String>,
    ) -> Result<Self, TemplateError> {
        let mut parameters = HashMap::new();
        for (name, spec) in &template.parameters {
            let raw = match overrides.get(name) {
                Some(v) => Value::String(v.clone()),
                None => spec.get("Default").cloned().ok_or_else(|| {
                    invalid(&format!("Parameters.{name}"), "no Default and no override")
                })?,
            };
            let text = match &raw {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Some(allowed) = spec.get("AllowedValues").and_then(Value::as_array) {
                if !allowed.iter().any(|a| match a {
                    Value::String(s) => s == &text,
                    other => {
                        let rendered = other.to_string();
                        rendered == text
                    }
                }) {
                    return Err(invalid(
                        &format!("Parameters.{name}"),
                        format!("{text:?} is not one of {}", Value::Array(allowed.clone())),
                    ));
                }
            }
            let value = if spec["Type"].as_str() == Some("CommaDelimitedList") {
                Value::Array(if text.is_empty() {
                    vec![Value::String(String::new())]
                } else {
                    text.split(',')
                        .map(|s| Value::String(s.trim().to_string()))
                        .collect()
                })
            } else {
                Value::String(text)
            };
            for o in overrides.keys() {
                if !template.parameters.contains_key(o) {
                    return Err(invalid(
                        &format!("parameter override {o}"),
                        "the template has no such parameter",
                    ));
                }
            }
            parameters.insert(name.clone(), value);
        }
        let mut context = Self {
            stack_name: stack_name.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            parameters,
            conditions: HashMap::new(),
            resources: HashMap::new(),
        };
        for (name, expression) in &template.conditions {
            let value = context.resolve(&format!("Conditions.{name}"), expression)?;
            let value = value.as_ref().and_then(Value::as_bool).ok_or_else(|| {
                invalid(
                    &format!("Conditions.{name}"),
                    "does not evaluate to a boolean",
                )
            })?;
            context.conditions.insert(name.clone(), value);
        }
        Ok(context)
    }

    pub fn condition(&self, name: &str) -> Result<bool, TemplateError> {
        self.conditions
            .get(name)
            .copied()
            .ok_or_else(|| TemplateError::Unresolved {
                at: "Condition".into(),
                target: name.to_string(),
            })
    }

    pub fn parameter(&self, name: &str) -> Option<String> {
        self.parameters
            .get(name)
            .and_then(|v| v.as_str().map(String::from))
    }

    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account.clone(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{}:{}:stack/{}/local",
                self.region, self.account, self.stack_name
            ),
            _ => return None,
        })
    }

    fn reference(&self, at: &str, name: &str) -> Result<Value, TemplateError> {
        if let Some(v) = self.pseudo(name) {
            return Ok(Value::String(v));
        }
        if let Some(v) = self.parameters.get(name) {
            return Ok(v.clone());
        }
        if let Some(r) = self.resources.get(name) {
            return Ok(Value::String(r.reference.clone()));
        }
        Err(TemplateError::Unresolved {
            at: at.to_string(),
            target: name.to_string(),
        })
    }

    fn attribute(
        &self,
        at: &str,
        resource: &str,
        attribute: &str,
    ) -> Result<String, TemplateError> {
        self.resources
            .get(resource)
            .and_then(|r| r.attributes.get(attribute))
            .cloned()
            .ok_or_else(|| TemplateError::Unresolved {
                at: at.to_string(),
                target: format!("{resource}.{attribute}"),
            })
    }

    fn substitute(
        &self,
        at: &str,
        text: &str,
        vars: &Map<String, Value>,
    ) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| invalid(at, format!("unclosed ${{ in {text:?}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(v) = vars.get(name) {
                match self.resolve(at, v)? {
                    Some(Value::String(s)) => out.push_str(&s),
                    Some(other) => out.push_str(&other.to_string()),
                    None => {}
                }
            } else if let Some((resource, attribute)) = name.split_once('.') {
                out.push_str(&self.attribute(at, resource, attribute)?);
            } else {
                match self.reference(at, name)? {
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `value` with every intrinsic evaluated; `None` is `AWS::NoValue` (the property is
    /// left out, as CloudFormation does).
    pub fn resolve(&self, at: &str, value: &Value) -> Result<Option<Value>, TemplateError> {
        match value {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    if let Some(v) = self.resolve(at, item)? {
                        out.push(v);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map
                    .iter()
                    .next()
                    .map(|(k, v)| (k.as_str(), v))
                    .unwrap_or(("", &Value::Null));
                // `Condition` is an intrinsic only with a name (IAM statements have a
                // `Condition` key too, never alone in an object with a string).
                if key == "Ref"
                    || (key == "Condition" && arg.is_string())
                    || key.starts_with("Fn::")
                {
                    self.intrinsic(at, key, arg)
                } else {
                    let mut out = Map::new();
                    if let Some(v) = self.resolve(&format!("{at}.{key}"), arg)? {
                        out.insert(key.to_string(), v);
                    }
                    Ok(Some(Value::Object(out)))
                }
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(v) = self.resolve(&format!("{at}.{k}"), v)? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    fn resolved(&self, at: &str, value: &Value) -> Result<Value, TemplateError> {
        self.resolve(at, value)?
            .ok_or_else(|| invalid(at, "AWS::NoValue where a value is needed"))
    }

    fn text(&self, at: &str, value: &Value) -> Result<String, TemplateError> {
        match self.resolved(at, value)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(invalid(at, format!("expected a string, got {other}"))),
        }
    }

    fn intrinsic(&self, at: &str, name: &str, arg: &Value) -> Result<Option<Value>, TemplateError> {
        let list = |n: usize| -> Result<&Vec<Value>, TemplateError> {
            arg.as_array()
                .filter(|a| a.len() == n)
                .ok_or_else(|| invalid(at, format!("{name} takes a list of {n}")))
        };
        Ok(Some(match name {
            "Ref" => {
                let target = arg
                    .as_str()
                    .ok_or_else(|| invalid(at, "Ref takes a name"))?;
                if target == "AWS::NoValue" {
                    return Ok(None);
                }
                self.reference(at, target)?
            }
            "Condition" => Value::Bool(self.condition(arg.as_str().unwrap_or_default())?),
            "Fn::GetAtt" => {
                let parts = list(2)?;
                let resource = self.text(at, &parts[0])?;
                let attribute = self.text(at, &parts[1])?;
                Value::String(self.attribute(at, &resource, &attribute)?)
            }
            "Fn::Sub" => match arg {
                Value::String(text) => Value::String(self.substitute(at, text, &Map::new())?),
                Value::Array(parts) if parts.len() == 2 => {
                    let text = parts[0]
                        .as_str()
                        .ok_or_else(|| invalid(at, "Fn::Sub text"))?;
                    let vars = parts[1].as_object().cloned().unwrap_or_default();
                    Value::String(self.substitute(at, text, &vars)?)
                }
                _ => return Err(invalid(at, "Fn::Sub takes a string or [string, variables]")),
            },
            "Fn::If" => {
                let parts = list(3)?;
                let condition = parts[0]
                    .as_str()
                    .ok_or_else(|| invalid(at, "Fn::If condition name"))?;
                let branch = if self.condition(condition)? {
                    &parts[1]
                } else {
                    &parts[2]
                };
                return self.resolve(at, branch);
            }
            "Fn::Equals" => {
                let parts = list(2)?;
                Value::Bool(self.resolved(at, &parts[0])? == self.resolved(at, &parts[1])?)
            }
            "Fn::Not" => {
                let parts = list(1)?;
                let v = self.resolved(at, &parts[0])?;
                Value::Bool(
                    !v.as_bool()
                        .ok_or_else(|| invalid(at, "Fn::Not of a non-boolean"))?,
                )
            }
            "Fn::And" | "Fn::Or" => {
                let parts = arg
                    .as_array()
                    .ok_or_else(|| invalid(at, "Fn::And/Or takes a list"))?;
                let mut values = Vec::new();
                for p in parts {
                    values.push(
                        self.resolved(at, p)?
                            .as_bool()
                            .ok_or_else(|| invalid(at, "non-boolean"))?,
                    );
                }
                Value::Bool(if name == "Fn::And" {
                    values.iter().all(|b| *b)
                } else {
                    values.iter().any(|b| *b)
                })
            }
            "Fn::Join" => {
                let parts = list(2)?;
                let separator = parts[0].as_str().unwrap_or_default();
                let items = match self.resolved(at, &parts[1])? {
                    Value::Array(items) => items,
                    other => return Err(invalid(at, format!("Fn::Join of {other}"))),
                };
                let texts: Vec<String> = items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect();
                Value::String(texts.join(separator))
            }
            "Fn::Select" => {
                let parts = list(2)?;
                let index: usize = self
                    .text(at, &parts[0])?
                    .parse()
                    .map_err(|_| invalid(at, "Fn::Select index"))?;
                match self.resolved(at, &parts[1])? {
                    Value::Array(items) => items
                        .get(index)
                        .cloned()
                        .ok_or_else(|| invalid(at, "Fn::Select index out of range"))?,
                    other => return Err(invalid(at, format!("Fn::Select from {other}"))),
                }
            }
            "Fn::Split" => {
                let parts = list(2)?;
                let separator = parts[0].as_str().unwrap_or_default().to_string();
                let text = self.text(at, &parts[1])?;
                Value::Array(
                    text.split(separator.as_str())
                        .map(|s| Value::String(s.into()))
                        .collect(),
                )
            }
            other => {
                return Err(TemplateError::Unsupported {
                    at: at.to_string(),
                    name: other.to_string(),
                })
            }
        }))
    }
}

/// `overlay` merged over `base` (objects key by key; anything else replaced).
pub fn merge(base: &Value, overlay: &Value) -> Value {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match out.get(k) {
                    Some(existing) => merge(existing, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, o) => o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
Parameters:
  Name: {Type: String, Default: lake}
  Ids: {Type: CommaDelimitedList, Default: ""}
Conditions:
  NoIds: !Equals [!Join ["", !Ref Ids], ""]
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 5}
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-${Name}-dlq"
      Tags: !If [NoIds, !Ref AWS::NoValue, [{Key: k, Value: v}]]
      Literal: !Sub "${!NotAVariable}"
"#;

    #[test]
    fn short_forms_order_and_intrinsics() {
        let t = Template::parse(SMALL).unwrap();
        let order: Vec<&str> = t
            .creation_order()
            .unwrap()
            .iter()
            .map(|r| r.logical_id.as_str())
            .collect();
        assert_eq!(
            order,
            ["Dlq", "Queue"],
            "the DLQ is referenced by the queue"
        );
        let mut c = Context::new(&t, "demo", "us-east-1", "123456789012", &HashMap::new()).unwrap();
        assert!(c.condition("NoIds").unwrap());
        let dlq = c
            .resolve("Dlq", &t.resources[1].properties)
            .unwrap()
            .unwrap();
        assert_eq!(dlq["QueueName"], "demo-lake-dlq");
        assert!(dlq.get("Tags").is_none(), "AWS::NoValue drops the property");
        assert_eq!(dlq["Literal"], "${NotAVariable}");
        let err = c.resolve("Queue", &t.resources[0].properties).unwrap_err();
        assert!(err.to_string().contains("Dlq.Arn"), "{err}");
        c.resources.insert(
            "Dlq".into(),
            Physical {
                reference: "url".into(),
                attributes: [("Arn".to_string(), "arn:dlq".to_string())].into(),
            },
        );
        let queue = c
            .resolve("Queue", &t.resources[0].properties)
            .unwrap()
            .unwrap();
        assert_eq!(queue["RedrivePolicy"]["deadLetterTargetArn"], "arn:dlq");
    }

    #[test]
    fn bad_templates_name_the_problem() {
        let e = Template::parse("Resources:\n  A:\n    Properties: {}\n").unwrap_err();
        assert!(e.to_string().contains("A: resource has no Type"), "{e}");
        let t =
            Template::parse("Resources:\n  A:\n    Type: X\n    Properties: {V: !Base64 abc}\n")
                .unwrap();
        let c = Context::new(&t, "s", "r", "1", &HashMap::new()).unwrap();
        let e = c.resolve("A", &t.resources[0].properties).unwrap_err();
        assert!(
            e.to_string().contains("unsupported intrinsic Fn::Base64"),
            "{e}"
        );
        let cyclic = "Resources:\n  A: {Type: X, Properties: {P: !Ref B}}\n  B: {Type: X, Properties: {P: !Ref A}}\n";
        let e = Template::parse(cyclic)
            .unwrap()
            .creation_order()
            .unwrap_err();
        assert!(e.to_string().contains("cycle: A, B"), "{e}");
        let overrides = [("Nope".to_string(), "1".to_string())].into();
        let t = Template::parse(SMALL).unwrap();
        let e = Context::new(&t, "s", "r", "1", &overrides).unwrap_err();
        assert!(e.to_string().contains("parameter override Nope"), "{e}");
    }
}
