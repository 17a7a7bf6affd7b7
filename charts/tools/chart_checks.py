#!/usr/bin/env python3
"""Checks of the rendered ai-video chart, run by scripts/lib/chart-check.sh.

    chart_checks.py schema SCHEMA VALUES.json          values against values.schema.json
    chart_checks.py validate K8S_VERSION MANIFESTS...  every document against its schema
    chart_checks.py assert MANIFESTS VALUES.json       what docs/operations.md promises
    chart_checks.py rules MANIFESTS OUT                the PrometheusRule's spec as a rules file
    chart_checks.py names API_METRICS WORKER_METRICS MANIFESTS...
                                                       metric names of every query exist
    chart_checks.py env MANIFESTS                      the ConfigMap's variables, NAME=value

Built-in kinds are validated with kubernetes-validate (strict: unknown fields are
errors); ServiceMonitor, PrometheusRule and ScaledObject with pydantic models
generated from the prometheus-operator and KEDA CRDs (cloudcoil.models.*), with
unknown fields forbidden. Any other kind is an error. Each command prints what
is wrong and exits 1 when anything is.
"""

import json
import re
import sys

import yaml

SECRET_VARS = {
    "DATABASE_URL", "REDIS_URL", "REDIS_PASSWORD", "JWT_SECRET", "JWT_PUBLIC_KEY",
    "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "STABILITY_AI_KEY", "RUNWAY_ML_KEY",
    "REPLICATE_API_TOKEN", "REPLICATE_WEBHOOK_SECRET",
}
ALERTS = {
    "AiVideoQueueBacklogGrowing", "AiVideoNoWorkerConsuming", "AiVideoJobFailureRateHigh",
    "AiVideoProvider429Storm", "AiVideoApiErrorRateHigh",
}
CRD_GROUPS = {"monitoring.coreos.com", "keda.sh"}
KEY_FIGURES = {"Average generation time", "Success rate", "API cost", "Average queue wait"}


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def fail_if(problems, what):
    for p in problems:
        print(f"  {what}: {p}")
    if problems:
        sys.exit(1)


def name_of(doc):
    return f"{doc['kind']}/{doc['metadata']['name']}"


# --- schema ---------------------------------------------------------------


def cmd_schema(schema_path, values_path):
    import jsonschema

    with open(schema_path) as f:
        schema = json.load(f)
    with open(values_path) as f:
        values = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    problems = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in sorted(validator.iter_errors(values), key=lambda e: list(map(str, e.absolute_path)))
    ]
    fail_if(problems, "values.schema.json")


# --- validate ---------------------------------------------------------------


def crd_models():
    from cloudcoil.models.keda import v1alpha1 as keda
    from cloudcoil.models.prometheus_operator import v1 as monitoring

    return {
        ("monitoring.coreos.com/v1", "ServiceMonitor"): monitoring.ServiceMonitor,
        ("monitoring.coreos.com/v1", "PrometheusRule"): monitoring.PrometheusRule,
        ("keda.sh/v1alpha1", "ScaledObject"): keda.ScaledObject,
    }


def cmd_validate(version, *paths):
    import kubernetes_validate
    import pydantic

    models = None
    problems = []
    counts = {"kubernetes": 0, "crd": 0}
    for path in paths:
        for doc in load(path):
            key = (doc.get("apiVersion"), doc.get("kind"))
            where = f"{path}: {name_of(doc)}"
            if str(key[0]).split("/")[0] in CRD_GROUPS:
                models = models or crd_models()
                model = models.get(key)
                if model is None:
                    problems.append(f"{where}: no schema for {key[0]} {key[1]}")
                    continue
                try:
                    model.model_validate(doc, extra="forbid", by_alias=True, by_name=False)
                    counts["crd"] += 1
                except pydantic.ValidationError as e:
                    for err in e.errors():
                        loc = ".".join(str(p) for p in err["loc"])
                        problems.append(f"{where}: {loc}: {err['msg']}")
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                counts["kubernetes"] += 1
            except kubernetes_validate.ValidationError as e:
                loc = ".".join(str(p) for p in e.path)
                problems.append(f"{where}: {loc}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{where}: not a Kubernetes {version} kind")
    fail_if(problems, "schema")
    print(f"  {counts['kubernetes']} Kubernetes {version} objects (strict) and "
          f"{counts['crd']} custom resources valid")


# --- assert -------------------------------------------------------------------


class Render:
    def __init__(self, docs):
        self.docs = docs

    def all(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind, name):
        for d in self.docs:
            if d["kind"] == kind and d["metadata"]["name"] == name:
                return d
        return None

    def component(self, kind, component):
        return [
            d for d in self.all(kind)
            if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        ]


def hooks(doc):
    return set(filter(None, doc["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")))


def check_pod(pod, problems, where):
    spec = pod["spec"]
    psc = spec.get("securityContext", {})
    if not psc.get("runAsNonRoot") or psc.get("runAsUser", 0) == 0:
        problems.append(f"{where}: pod does not run as a non-root user")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: mounts a service account token")
    mounts_of = {}
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        if not sc.get("readOnlyRootFilesystem"):
            problems.append(f"{where}/{c['name']}: root file system is writable")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}/{c['name']}: privilege escalation allowed")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{where}/{c['name']}: capabilities not dropped")
        if "memory" not in c.get("resources", {}).get("limits", {}):
            problems.append(f"{where}/{c['name']}: no memory limit")
        mounts_of[c["name"]] = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    return mounts_of


def env_of(container, render, values):
    """The container's environment as far as the render tells (ConfigMap values;
    Secret keys map to '<secret>')."""
    env = {}
    for ref in container.get("envFrom", []):
        if "configMapRef" in ref:
            cm = render.get("ConfigMap", ref["configMapRef"]["name"])
            env.update(cm["data"] if cm else {})
        if "secretRef" in ref:
            s = render.get("Secret", ref["secretRef"]["name"])
            env.update({k: "<secret>" for k in (s or {}).get("data", {})})
    for e in container.get("env", []):
        env[e["name"]] = e.get("value", "<ref>")
    return env


def port_number(container, name):
    for p in container.get("ports", []):
        if p.get("name") == name:
            return p["containerPort"]
    return None


def check_probes(container, port_name, port, problems, where):
    if port_number(container, port_name) != port:
        problems.append(f"{where}: port {port_name} is not {port}")
    live = container.get("livenessProbe", {}).get("httpGet", {})
    ready = container.get("readinessProbe", {}).get("httpGet", {})
    if (live.get("path"), live.get("port")) != ("/healthz", port_name):
        problems.append(f"{where}: liveness probe is not GET /healthz on {port_name}")
    if (ready.get("path"), ready.get("port")) != ("/readyz", port_name):
        problems.append(f"{where}: readiness probe is not GET /readyz on {port_name}")


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def cmd_assert(manifests, values_path):
    with open(values_path) as f:
        values = json.load(f)
    r = Render(load(manifests))
    problems = []
    existing = values["secrets"]["existingSecret"]

    deployments = {c: r.component("Deployment", c) for c in ("api", "worker")}
    for c, ds in deployments.items():
        if len(ds) != 1:
            problems.append(f"expected one {c} Deployment, found {len(ds)}")
    if problems:
        fail_if(problems, "chart")
    api, worker = deployments["api"][0], deployments["worker"][0]
    api_c, worker_c = api["spec"]["template"]["spec"]["containers"][0], worker["spec"]["template"]["spec"]["containers"][0]

    # One image, two roles.
    if api_c["image"] != worker_c["image"]:
        problems.append("api and worker run different images")
    if api_c["command"] != ["ai-video-api"] or worker_c["command"] != ["ai-video-worker"]:
        problems.append("api and worker do not run ai-video-api and ai-video-worker")

    # Pods: non-root, read-only root, writable WORK_DIR on an emptyDir.
    pods = [(name_of(d), d["spec"]["template"]) for d in r.all("Deployment") + r.all("Job")]
    for where, pod in pods:
        check_pod(pod, problems, where)
    api_env, worker_env = env_of(api_c, r, values), env_of(worker_c, r, values)
    for role, env in (("api", api_env), ("worker", worker_env)):
        if env.get("LOG_FORMAT") != "json":
            problems.append(f"{role}: LOG_FORMAT is not json")
        if env.get("AUTO_MIGRATE") != "false":
            problems.append(f"{role}: AUTO_MIGRATE is not false")
        for var in ("DATABASE_URL", "REDIS_URL"):
            if not existing and env.get(var) != "<secret>":
                problems.append(f"{role}: {var} does not come from the Secret")
    work_dir = worker_env.get("WORK_DIR")
    worker_pod = worker["spec"]["template"]["spec"]
    volume = {m["mountPath"]: m["name"] for m in worker_c.get("volumeMounts", [])}.get(work_dir)
    if not work_dir or not any(v["name"] == volume and "emptyDir" in v for v in worker_pod.get("volumes", [])):
        problems.append(f"worker: WORK_DIR ({work_dir}) is not on an emptyDir")

    # Probes on separate endpoints, on the ports the processes bind.
    bind = api_env.get("BIND_ADDR", "")
    metrics_addr = worker_env.get("METRICS_ADDR", "")
    if not bind.startswith("0.0.0.0:") or not metrics_addr.startswith("0.0.0.0:"):
        problems.append(f"BIND_ADDR ({bind}) and METRICS_ADDR ({metrics_addr}) must listen on 0.0.0.0")
    else:
        check_probes(api_c, "http", int(bind.split(":")[1]), problems, "api")
        check_probes(worker_c, "metrics", int(metrics_addr.split(":")[1]), problems, "worker")

    # Graceful shutdown: Kubernetes waits longer than the worker drains.
    grace = int(worker_env.get("WORKER_SHUTDOWN_GRACE_SECS", "-1"))
    want = values["worker"]["shutdownGraceSeconds"] + values["worker"]["terminationMarginSeconds"]
    got = worker_pod.get("terminationGracePeriodSeconds")
    if grace != values["worker"]["shutdownGraceSeconds"] or got != want or got <= grace:
        problems.append(f"worker: terminationGracePeriodSeconds {got}, WORKER_SHUTDOWN_GRACE_SECS {grace}, "
                        f"expected {want} and {values['worker']['shutdownGraceSeconds']}")

    # ConfigMap holds no secret; the Secret holds only secrets.
    for cm in r.all("ConfigMap"):
        leaked = SECRET_VARS & set(cm.get("data", {}))
        if leaked:
            problems.append(f"{name_of(cm)} holds secret variables {sorted(leaked)}")
    chart_secrets = [s for s in r.all("Secret") if not hooks(s)]
    if existing:
        if chart_secrets:
            problems.append(f"secrets.existingSecret is set but the chart renders {[name_of(s) for s in chart_secrets]}")
        for c in (api_c, worker_c):
            if {"secretRef": {"name": existing}} not in c["envFrom"]:
                problems.append(f"{c['name']}: does not read Secret {existing}")
    else:
        if len(chart_secrets) != 1:
            problems.append(f"expected one Secret, found {len(chart_secrets)}")
        else:
            keys = set(chart_secrets[0]["data"])
            if not {"DATABASE_URL", "REDIS_URL"} <= keys or len(keys & {"JWT_SECRET", "JWT_PUBLIC_KEY"}) != 1:
                problems.append(f"the Secret lacks DATABASE_URL, REDIS_URL or exactly one JWT key: {sorted(keys)}")
            if keys - SECRET_VARS:
                problems.append(f"the Secret holds non-secret keys {sorted(keys - SECRET_VARS)}")

    # Migration: a pre-install,pre-upgrade hook running ai-video-api migrate,
    # reading DATABASE_URL from a Secret that exists by then.
    if values["migration"]["enabled"]:
        jobs = r.component("Job", "migration")
        if len(jobs) != 1:
            problems.append(f"expected one migration Job, found {len(jobs)}")
        else:
            job = jobs[0]
            c = job["spec"]["template"]["spec"]["containers"][0]
            if not {"pre-install", "pre-upgrade"} <= hooks(job):
                problems.append("migration Job is not a pre-install,pre-upgrade hook")
            if c["command"] + c.get("args", []) != ["ai-video-api", "migrate"]:
                problems.append("migration Job does not run ai-video-api migrate")
            ref = next((e["valueFrom"]["secretKeyRef"] for e in c.get("env", []) if e["name"] == "DATABASE_URL"), None)
            if ref is None:
                problems.append("migration Job has no DATABASE_URL")
            elif not existing:
                s = r.get("Secret", ref["name"])
                weight = lambda d: int(d["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))
                if not s or not {"pre-install", "pre-upgrade"} <= hooks(s) or weight(s) >= weight(job):
                    problems.append("migration Job's Secret is not a hook created before it")
            elif ref["name"] != existing:
                problems.append(f"migration Job does not read {existing}")

    # Services and PDBs select their pods; ports resolve.
    for c, deployment, container in (("api", api, api_c), ("worker", worker, worker_c)):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        services = r.component("Service", c)
        if len(services) != 1 or not selects(services[0]["spec"]["selector"], labels):
            problems.append(f"{c}: no Service selecting its pods")
        else:
            for p in services[0]["spec"]["ports"]:
                if port_number(container, p["targetPort"]) is None:
                    problems.append(f"{c}: Service targetPort {p['targetPort']} is not a container port")
        pdbs = r.component("PodDisruptionBudget", c)
        if values[c]["pdb"]["enabled"] and (len(pdbs) != 1 or not selects(pdbs[0]["spec"]["selector"]["matchLabels"], labels)):
            problems.append(f"{c}: no PodDisruptionBudget selecting its pods")
        for sm in r.component("ServiceMonitor", c):
            ports = {p["name"] for s in services for p in s["spec"]["ports"]}
            for ep in sm["spec"]["endpoints"]:
                if ep["port"] not in ports or ep.get("path") != "/metrics":
                    problems.append(f"{name_of(sm)}: endpoint {ep} does not scrape /metrics of a Service port")
    if values["serviceMonitor"]["enabled"] and len(r.all("ServiceMonitor")) != 2:
        problems.append("serviceMonitor.enabled but not one ServiceMonitor per role")
    for ing in r.all("Ingress"):
        for rule in ing["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                svc = r.get("Service", p["backend"]["service"]["name"])
                if not svc or p["backend"]["service"]["port"]["number"] not in [x["port"] for x in svc["spec"]["ports"]]:
                    problems.append(f"{name_of(ing)}: backend {p['backend']} is not a Service port")

    # Autoscaling: exactly the engine asked for.
    engine = values["worker"]["autoscaling"]["engine"]
    hpas, scaled = r.all("HorizontalPodAutoscaler"), r.all("ScaledObject")
    expected = {"hpa": (1, 0), "keda": (0, 1), "none": (0, 0)}[engine]
    if (len(hpas), len(scaled)) != expected:
        problems.append(f"engine {engine}: {len(hpas)} HPA and {len(scaled)} ScaledObject rendered")
    if (engine == "none") != ("replicas" in worker["spec"]):
        problems.append("worker Deployment sets replicas while autoscaled, or not while not")
    for hpa in hpas:
        spec = hpa["spec"]
        if spec["scaleTargetRef"]["name"] != worker["metadata"]["name"]:
            problems.append("HPA does not scale the worker Deployment")
        ext = [m["external"] for m in spec["metrics"] if m["type"] == "External"]
        if len(ext) != 1 or ext[0]["target"]["type"] != "AverageValue":
            problems.append("HPA has no External AverageValue metric")
        else:
            exposed = adapter_metric_names(r, values)
            if ext[0]["metric"]["name"] not in exposed:
                problems.append(f"HPA metric {ext[0]['metric']['name']} is not exposed by the adapter rules ({sorted(exposed)})")
        cpu = values["worker"]["autoscaling"]["cpu"]["targetUtilization"]
        if cpu and not any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in spec["metrics"]):
            problems.append("HPA has no CPU metric")
        if not {"scaleUp", "scaleDown"} <= set(spec.get("behavior", {})):
            problems.append("HPA has no scaleUp/scaleDown behavior")
    for so in scaled:
        spec = so["spec"]
        kinds = {t["type"] for t in spec["triggers"]}
        if spec["scaleTargetRef"]["name"] != worker["metadata"]["name"] or "prometheus" not in kinds:
            problems.append("ScaledObject does not scale the worker on a Prometheus query")
        if not {"scaleUp", "scaleDown"} <= set(spec["advanced"]["horizontalPodAutoscalerConfig"].get("behavior", {})):
            problems.append("ScaledObject has no scaleUp/scaleDown behavior")

    # Monitoring objects when asked for.
    if values["prometheusRule"]["enabled"]:
        rules = r.all("PrometheusRule")
        names = {x.get("alert") for pr in rules for g in pr["spec"]["groups"] for x in g["rules"]}
        if ALERTS - names:
            problems.append(f"PrometheusRule lacks alerts {sorted(ALERTS - names)}")
    if values["grafanaDashboard"]["enabled"]:
        cms = [c for c in r.all("ConfigMap") if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
        if len(cms) != 1:
            problems.append("no ConfigMap labelled grafana_dashboard: \"1\"")
        else:
            dash = json.loads(next(iter(cms[0]["data"].values())))
            titles = {p.get("title") for p in dash["panels"]}
            if KEY_FIGURES - titles:
                problems.append(f"dashboard lacks panels {sorted(KEY_FIGURES - titles)}")
    fail_if(problems, "chart")
    print(f"  {len(r.docs)} objects: probes, security, secrets, hooks, PDBs, autoscaling ({engine}) as documented")


def adapter_metric_names(render, values):
    names = set()
    for cm in render.all("ConfigMap"):
        if "config.yaml" in cm.get("data", {}):
            cfg = yaml.safe_load(cm["data"]["config.yaml"]) or {}
            names |= {x["name"]["as"] for x in cfg.get("externalRules", []) if "as" in x.get("name", {})}
    return names


# --- rules ----------------------------------------------------------------------


def cmd_rules(manifests, out):
    rules = [d for d in load(manifests) if d["kind"] == "PrometheusRule"]
    if len(rules) != 1:
        print(f"  expected one PrometheusRule, found {len(rules)}")
        sys.exit(1)
    with open(out, "w") as f:
        yaml.safe_dump(rules[0]["spec"], f, sort_keys=False)


# --- names ----------------------------------------------------------------------

METRIC = re.compile(r"\bai_video_[a-zA-Z0-9_]*[a-zA-Z0-9]")


def queries(docs):
    """Every PromQL query in the rendered chart, with where it is."""
    for d in docs:
        if d["kind"] == "PrometheusRule":
            for g in d["spec"]["groups"]:
                for rule in g["rules"]:
                    yield f"alert {rule.get('alert') or rule.get('record')}", str(rule["expr"])
        elif d["kind"] == "ScaledObject":
            for t in d["spec"]["triggers"]:
                if t["type"] == "prometheus":
                    yield "KEDA trigger", t["metadata"]["query"]
        elif d["kind"] == "ConfigMap":
            data = d.get("data", {})
            if "config.yaml" in data:
                cfg = yaml.safe_load(data["config.yaml"]) or {}
                for kind in ("rules", "externalRules"):
                    for rule in cfg.get(kind, []):
                        yield "prometheus-adapter rule", rule.get("seriesQuery", "") + " " + rule.get("metricsQuery", "")
            elif d["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
                for text in data.values():
                    dash = json.loads(text)
                    for v in dash.get("templating", {}).get("list", []):
                        q = v.get("query")
                        if isinstance(q, dict):
                            q = q.get("query")
                        if v.get("type") == "query" and q:
                            yield f"dashboard variable {v['name']}", q
                    for p in dash.get("panels", []):
                        for t in p.get("targets", []):
                            yield f"dashboard panel \"{p.get('title')}\"", t.get("expr", "")


def exposed(path):
    """Sample names and TYPE declarations of a Prometheus text exposition."""
    samples, types = set(), {}
    with open(path) as f:
        for line in f:
            if line.startswith("# TYPE "):
                parts = line.split()
                if len(parts) >= 4:
                    types[parts[2]] = parts[3]
            elif line.strip() and not line.startswith("#"):
                samples.add(re.split(r"[{\s]", line.strip(), maxsplit=1)[0])
    return samples, types


HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def canonical(name):
    """A query's ai_video_x_bucket, _sum or _count refers to histogram ai_video_x."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def known(name, samples, types):
    return name in types or name in samples or any(name + s in samples for s in HISTOGRAM_SUFFIXES)


def cmd_names(api_metrics, worker_metrics, *manifests):
    samples, types = set(), {}
    for path in (api_metrics, worker_metrics):
        s, t = exposed(path)
        samples |= s
        types.update(t)
    docs = [d for m in manifests for d in load(m)]
    used = {}
    for where, query in queries(docs):
        for name in METRIC.findall(query):
            used.setdefault(canonical(name), set()).add(where)
    missing = sorted(n for n in used if not known(n, samples, types))
    if missing:
        print(f"  {len(missing)} of the {len(used)} metrics used by the chart are not in the /metrics output:")
        for name in missing:
            wheres = sorted(used[name])
            more = f" and {len(wheres) - 3} more" if len(wheres) > 3 else ""
            print(f"    {name}  (used by {'; '.join(wheres[:3])}{more})")
        sys.exit(1)
    print(f"  all {len(used)} metrics used by the dashboard, alerts, adapter rules and KEDA are exposed:")
    print("    " + " ".join(sorted(used)))


# --- env ---------------------------------------------------------------------------


def cmd_env(manifests):
    """Prints the ConfigMap environment of the api Deployment as NAME=value lines."""
    r = Render(load(manifests))
    api = r.component("Deployment", "api")[0]["spec"]["template"]["spec"]["containers"][0]
    for ref in api["envFrom"]:
        if "configMapRef" in ref:
            for k, v in sorted(r.get("ConfigMap", ref["configMapRef"]["name"])["data"].items()):
                print(f"{k}={v}")


COMMANDS = {
    "schema": cmd_schema, "validate": cmd_validate, "assert": cmd_assert,
    "rules": cmd_rules, "names": cmd_names, "env": cmd_env,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
