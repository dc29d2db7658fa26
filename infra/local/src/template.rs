//! Reads template.yaml: its resources, functions, routes and environment, resolving the intrinsic
//! functions it uses (`!Ref`, `!GetAtt`, `!Sub`) against the local stack's names.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_yaml::Value;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("template.yaml: {0}")]
    Invalid(String),
}

/// The parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

/// One HTTP API route of a function: method and path, as API Gateway declares them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteKey {
    pub method: String,
    pub path: String,
}

impl std::fmt::Display for RouteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Turns a logical id (or `Name.Attribute`) into its local value.
pub trait Resolver {
    fn reference(&self, name: &str) -> Option<String>;
    fn attribute(&self, resource: &str, attribute: &str) -> Option<String>;
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| TemplateError::Read { path: path.display().to_string(), reason: error.to_string() })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let root: Value = serde_yaml::from_str(text).map_err(|error| TemplateError::Invalid(error.to_string()))?;
        if root.get("Resources").and_then(Value::as_mapping).is_none() {
            return Err(TemplateError::Invalid("no Resources".into()));
        }
        Ok(Template { root })
    }

    /// Logical id -> resource, in the template's order.
    pub fn resources(&self) -> Vec<(String, &Value)> {
        let mapping = self.root["Resources"].as_mapping().expect("checked at parse");
        mapping.iter().filter_map(|(id, resource)| Some((id.as_str()?.to_string(), resource))).collect()
    }

    pub fn resources_of_type(&self, kind: &str) -> Vec<(String, &Value)> {
        self.resources().into_iter().filter(|(_, resource)| resource["Type"].as_str() == Some(kind)).collect()
    }

    /// Parameter name -> default value.
    pub fn parameter_defaults(&self) -> HashMap<String, String> {
        let Some(parameters) = self.root.get("Parameters").and_then(Value::as_mapping) else {
            return HashMap::new();
        };
        parameters
            .iter()
            .filter_map(|(name, spec)| Some((name.as_str()?.to_string(), scalar(spec.get("Default")?)?)))
            .collect()
    }

    /// The template's top-level `Metadata` entry `name` (Null when absent).
    pub fn metadata(&self, name: &str) -> &Value {
        self.root.get("Metadata").and_then(|metadata| metadata.get(name)).unwrap_or(&Value::Null)
    }

    /// Logical id of the function whose build binary is `binary`.
    pub fn function_by_binary(&self, binary: &str) -> Option<String> {
        self.resources_of_type("AWS::Serverless::Function")
            .into_iter()
            .find(|(_, resource)| resource["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary))
            .map(|(id, _)| id)
    }

    /// The HTTP API routes a function declares.
    pub fn routes_of(&self, function_id: &str) -> Vec<RouteKey> {
        let events = self.root["Resources"][function_id]["Properties"]["Events"].as_mapping();
        let mut routes: Vec<RouteKey> = events
            .into_iter()
            .flatten()
            .filter(|(_, event)| event["Type"].as_str() == Some("HttpApi"))
            .filter_map(|(_, event)| {
                Some(RouteKey {
                    method: event["Properties"]["Method"].as_str()?.to_uppercase(),
                    path: event["Properties"]["Path"].as_str()?.to_string(),
                })
            })
            .collect();
        routes.sort();
        routes
    }

    /// A function's events (name -> event), of every type: HttpApi, ScheduleV2, SQS...
    pub fn events_of(&self, function_id: &str) -> Vec<(String, &Value)> {
        let events = self.root["Resources"][function_id]["Properties"]["Events"].as_mapping();
        events.into_iter().flatten().filter_map(|(name, event)| Some((name.as_str()?.to_string(), event))).collect()
    }

    /// A function's environment: the Globals' variables overlaid with its own, resolved.
    pub fn environment_of(
        &self,
        function_id: &str,
        resolver: &dyn Resolver,
    ) -> Result<BTreeMap<String, String>, TemplateError> {
        let globals = &self.root["Globals"]["Function"]["Environment"]["Variables"];
        let own = &self.root["Resources"][function_id]["Properties"]["Environment"]["Variables"];
        let mut environment = BTreeMap::new();
        for variables in [globals, own] {
            for (name, value) in variables.as_mapping().into_iter().flatten() {
                let name = name.as_str().unwrap_or_default().to_string();
                let value = resolve(value, resolver)
                    .ok_or_else(|| TemplateError::Invalid(format!("{function_id}: cannot resolve {name}")))?;
                environment.insert(name, value);
            }
        }
        Ok(environment)
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Resolves a property value: a scalar, or `!Ref`, `!GetAtt`, `!Sub` over local names.
pub fn resolve(value: &Value, resolver: &dyn Resolver) -> Option<String> {
    let Value::Tagged(tagged) = value else {
        return scalar(value);
    };
    let argument = &tagged.value;
    if tagged.tag == "Ref" {
        resolver.reference(argument.as_str()?)
    } else if tagged.tag == "GetAtt" {
        let (resource, attribute) = match argument {
            Value::String(text) => text.split_once('.')?,
            Value::Sequence(parts) => (parts.first()?.as_str()?, parts.get(1)?.as_str()?),
            _ => return None,
        };
        resolver.attribute(resource, attribute)
    } else if tagged.tag == "Sub" {
        substitute(argument.as_str()?, resolver)
    } else {
        None
    }
}

/// `!Sub "text ${Name} ${Res.Attr}"`.
fn substitute(text: &str, resolver: &dyn Resolver) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        let name = &rest[start + 2..end];
        let value = match name.split_once('.') {
            Some((resource, attribute)) if !name.starts_with("AWS::") => resolver.attribute(resource, attribute)?,
            _ => resolver.reference(name)?,
        };
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Names;
    impl Resolver for Names {
        fn reference(&self, name: &str) -> Option<String> {
            Some(format!("ref:{name}"))
        }
        fn attribute(&self, resource: &str, attribute: &str) -> Option<String> {
            Some(format!("att:{resource}.{attribute}"))
        }
    }

    #[test]
    fn intrinsic_functions_resolve() {
        let value: Value = serde_yaml::from_str("!Sub 'a-${Table}-${Queue.Arn}-${AWS::Region}'").unwrap();
        assert_eq!(resolve(&value, &Names).unwrap(), "a-ref:Table-att:Queue.Arn-ref:AWS::Region");
        let value: Value = serde_yaml::from_str("!GetAtt Dlq.Arn").unwrap();
        assert_eq!(resolve(&value, &Names).unwrap(), "att:Dlq.Arn");
        let value: Value = serde_yaml::from_str("!Ref Table").unwrap();
        assert_eq!(resolve(&value, &Names).unwrap(), "ref:Table");
    }
}
