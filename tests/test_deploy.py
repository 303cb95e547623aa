"""Deployments against a real Prefect server (`prefect server start`, SQLite in a temp folder):
deploy/deployments.py and deploy/prefect.yaml register what the README promises, the UI is served,
and a process worker runs a corpus deployment to COMPLETED. Plus static checks of the compose and
Kubernetes files, which cannot run here (no container engine)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
POOL = "llammas-process"


# ---------------------------------------------------------------- static checks (no server)

def test_prefect_yaml_matches_the_models_and_deployments_py():
    from deploy.deployments import DEPLOYMENTS
    from llammas_core.config import LlammasConfig, StoreConfig
    from llammas_core.corpus.config import CorpusConfig

    spec = yaml.safe_load((DEPLOY / "prefect.yaml").read_text())
    deps = {d["name"]: d for d in spec["deployments"]}
    assert {n: d["entrypoint"] for n, d in deps.items()} == {n: e for n, (e, _) in DEPLOYMENTS.items()}
    assert spec["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $LLAMMAS_REPO }}"}}]
    assert deps["corpus-refresh"]["schedules"] == [{"cron": "0 3 * * 1", "timezone": "UTC", "active": True}]
    for d in deps.values():
        assert d["work_pool"]["name"] == POOL
        p = d["parameters"]
        if "corpus" in p:
            CorpusConfig.model_validate(p["corpus"])
        if "store" in p:
            StoreConfig.model_validate(p["store"])
        if "config" in p:
            LlammasConfig.model_validate(p["config"])


def test_compose_file_is_consistent():
    text = (DEPLOY / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert {"postgres", "prefect-server", "minio", "createbuckets", "worker"} <= services.keys()
    # the server is built with the same constraints as the worker (not an upstream image that
    # resolves its own SQLAlchemy)
    assert services["prefect-server"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["prefect-server"]["build"]["target"] == "server"
    assert services["worker"]["build"]["target"] == "worker"
    server_env = services["prefect-server"]["environment"]
    assert server_env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert server_env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    worker = services["worker"]
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "--pool" in worker["command"] and POOL in worker["command"]
    assert worker["environment"]["AWS_ENDPOINT_URL_S3"] == "http://minio:9000"
    # every depends_on condition names a service that can satisfy it
    for name, svc in services.items():
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s healthcheck, it has none"
    # every required variable (${VAR} / ${VAR:?...}) is in .env.example
    example = {line.split("=", 1)[0] for line in (DEPLOY / ".env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    required = set(re.findall(r"\$\{(\w+)(?::\?[^}]*)?\}", text))
    assert required <= example, f"missing from .env.example: {required - example}"


def test_images_install_the_locked_versions():
    """Both images install with -c constraints.txt, and constraints.txt locks what this test run
    uses: a Prefect server with SQLAlchemy 2.1 never schedules a run (see the scheduler test)."""
    from importlib.metadata import version

    docker = (DEPLOY / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", docker, flags=re.M)[1:]
    targets = {s.split()[2]: s for s in stages if " AS " in s.split("\n")[0]}
    assert {"server", "worker"} <= targets.keys()
    for name in ("server", "worker"):
        assert re.search(r"pip install -c \S*constraints.txt", targets[name]), name
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (REPO / "constraints.txt").read_text(), flags=re.M))
    pins = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    for package in ("prefect", "sqlalchemy", "fastapi", "starlette", "pydantic"):
        assert pins.get(package) == version(package), (package, pins.get(package), version(package))
    spec = yaml.safe_load((DEPLOY / "prefect.yaml").read_text())
    assert spec["prefect-version"] == version("prefect")
    k8s = yaml.safe_load_all((DEPLOY / "k8s/prefect-server.yaml").read_text())
    images = [c["image"] for d in k8s if d and d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]]
    assert images and all(i.startswith("llammas-prefect-server") for i in images), images


def test_k8s_manifests_parse_and_wire_up():
    files = sorted(f for f in (DEPLOY / "k8s").glob("*.yaml") if f.name != "kustomization.yaml")
    kustomization = yaml.safe_load((DEPLOY / "k8s/kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == [f.name for f in files]
    docs = [d for f in files for d in yaml.safe_load_all(f.read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for expected in [("Namespace", "llammas"), ("StatefulSet", "postgres"), ("Service", "postgres"),
                     ("Deployment", "prefect-server"), ("Service", "prefect-server"),
                     ("Deployment", "prefect-worker"), ("StatefulSet", "minio"), ("Service", "minio")]:
        assert expected in kinds
    pods = {}
    for d in docs:
        assert d.get("apiVersion") and d["metadata"].get("name")
        if d["kind"] != "Namespace":
            assert d["metadata"].get("namespace") == "llammas", d["metadata"]["name"]
        if d["kind"] in ("Deployment", "StatefulSet"):
            tmpl = d["spec"]["template"]
            assert d["spec"]["selector"]["matchLabels"].items() <= tmpl["metadata"]["labels"].items()
            pods[d["metadata"]["name"]] = tmpl["metadata"]["labels"]
    for svc in (d for d in docs if d["kind"] == "Service"):  # each Service selects some workload's pods
        assert any(svc["spec"]["selector"].items() <= labels.items() for labels in pods.values()), svc


def _descriptions(node, path=""):
    if isinstance(node, dict):
        if isinstance(node.get("description"), str):
            yield path, node["description"]
        for k, v in node.items():
            yield from _descriptions(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _descriptions(v, f"{path}[{i}]")


def _form_schemas() -> dict:
    from deploy.deployments import build
    from llammas_core.config import load_config

    return {d.name: d._parameter_openapi_schema.model_dump() for d in
            build(load_config(REPO / "configs/demo.yaml"), None, None, "0 3 * * 1", "UTC")}


def test_field_descriptions_render_in_the_form():
    """The UI renders descriptions as Markdown and drops anything that looks like an HTML tag:
    `<store>/checkpoints/<stage>/<key>/` showed as `/checkpoints///`. Placeholders belong in code
    spans, where they are shown as written."""
    bad = []
    for name, schema in _form_schemas().items():
        for path, text in _descriptions(schema):
            outside_code = re.sub(r"`[^`]*`", "", text)
            if re.search(r"<[A-Za-z/!][^>]*>", outside_code):  # what HTML calls a tag
                bad.append(f"{name}{path}: {text}")
    assert not bad, "\n".join(bad)


def _model_schema() -> dict:
    from llammas_core.config import LlammasConfig

    return LlammasConfig.model_json_schema()


def test_run_form_schema_is_plain_where_it_can_be():
    """Optional leaves (`max_steps: int | None`) are plain typed inputs carrying their bounds, not
    "int | None" pickers whose errors read "not valid under any of the given schemas"; Optional
    sections keep the None choice; the pipeline's corpus section is required, not "(Optional)"."""
    schemas = _form_schemas()
    pipeline = schemas["pipeline"]["definitions"]
    # bounds sit in allOf: Prefect's UI drops a property's own minimum/maximum/pattern before it validates
    assert pipeline["CPTConfig"]["properties"]["max_steps"] == {
        "type": "integer", "allOf": [{"minimum": 1}], "title": "Max Steps",
        "description": pipeline["CPTConfig"]["properties"]["max_steps"]["description"]}
    # every bound of the models survives where the UI keeps it: no property carries its own
    kept = ("type", "title", "description", "default", "enum", "items", "anyOf", "allOf", "$ref", "properties",
            "required", "format", "const", "examples", "example", "prefixItems", "maxItems", "minItems",
            "additionalProperties", "position", "block_type_slug")
    text = json.dumps(pipeline)
    assert text.count('"minimum"') == json.dumps(_model_schema()).count('"minimum"') > 80
    for definition in pipeline.values():
        for name, prop in (definition.get("properties") or {}).items():
            assert set(prop) <= set(kept), (name, sorted(set(prop) - set(kept)))
    assert "corpus" in pipeline["LlammasConfig"]["required"]
    assert "anyOf" not in pipeline["LlammasConfig"]["properties"]["corpus"]
    assert [o.get("type") for o in pipeline["LlammasConfig"]["properties"]["train"]["anyOf"]] == [None, "null"]
    for schema in schemas.values():  # what the form validates is still the flow's parameters
        assert schema["required"] == [k for k in schema["required"]]
    assert schemas["corpus"]["required"] == ["corpus"]


# ---------------------------------------------------------------- a real Prefect server

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()



def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "true",
        "PREFECT_UI_API_URL": f"{url}/api",
        "PREFECT_API_URL": f"{url}/api",  # for the CLI subprocesses below
        "PREFECT_LOGGING_LEVEL": "INFO",
        # the scheduler as in production (its default 60 s main loop), plus a quick look at
        # recently changed deployments, so a schedule shows its runs within seconds
        "PREFECT_SERVER_SERVICES_SCHEDULER_RECENT_DEPLOYMENTS_LOOP_SECONDS": "1",
    }
    env.pop("LLAMMAS_REPO", None)  # unset when deploying: prefect.yaml's pull step keeps the placeholder
    log = home / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _get(f"{url}/api/health", 2) == (200, "true"):
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                # a crash here is a broken install (e.g. an incompatible fastapi), not a missing tool
                pytest.fail(f"prefect server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not healthy after 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield SimpleNamespace(url=url, api=f"{url}/api", env=env, home=home)
    finally:
        _stop(proc)


@contextmanager
def client(server):
    """A sync client of the test server; settings are scoped so nothing leaks into other tests."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.api}), get_client(sync_client=True) as c:
        yield c


def _cli(server, *args: str, timeout: float = 120) -> str:
    r = subprocess.run([sys.executable, *args], cwd=REPO, env=server.env,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{args} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


def _deployments(server) -> dict:
    with client(server) as c:
        return {f"{c.read_flow(d.flow_id).name}/{d.name}": d for d in c.read_deployments()}


def _expected_names() -> set[str]:
    from deploy.deployments import DEPLOYMENTS

    flow = {"corpus-refresh": "corpus", "corpus": "corpus", "instructions": "instructions", "train": "train",
            "evaluate": "evaluate", "pipeline": "pipeline"}
    return {f"{flow[n]}/{n}" for n, (entry, _) in DEPLOYMENTS.items() if (REPO / entry.split(":")[0]).is_file()}


@pytest.fixture(scope="module")
def registered(server):
    """deployments.py (creates the pool), then prefect.yaml, then deployments.py again: the final
    state is deployments.py's, and the re-run must update in place, not duplicate."""
    first = _cli(server, "-m", "deploy.deployments", "--config", "configs/demo.yaml", "--work-pool", POOL)
    first_ids = {n: d.id for n, d in _deployments(server).items()}
    yaml_names = [n.split("/")[1] for n in _expected_names()]
    _cli(server, "-m", "prefect", "--no-prompt", "deploy", "--prefect-file", "deploy/prefect.yaml",
         *[a for n in yaml_names for a in ("-n", n)])
    from_yaml = _deployments(server)
    _cli(server, "-m", "deploy.deployments", "--config", "configs/demo.yaml", "--work-pool", POOL)
    return SimpleNamespace(output=first, first_ids=first_ids, from_yaml=from_yaml, final=_deployments(server))


@pytest.mark.slow
def test_deployments_registered(server, registered):
    from llammas_core.config import load_config

    deps = registered.final
    assert set(deps) == _expected_names() and {"corpus/corpus-refresh", "corpus/corpus"} <= set(deps)
    assert {n: d.id for n, d in deps.items()} == registered.first_ids  # updated in place
    assert f"prefect worker start --pool {POOL}" in registered.output

    refresh, corpus = deps["corpus/corpus-refresh"], deps["corpus/corpus"]
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in refresh.schedules] == [("0 3 * * 1", "UTC", True)]
    assert corpus.schedules == []
    for d in deps.values():
        assert d.work_pool_name == POOL
        assert d.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}]

    # the UI form is pre-filled from the config and renders the nested models
    cfg = load_config(REPO / "configs/demo.yaml")
    # (None values of optional leaves are left out: the same config once validated)
    assert type(cfg.corpus).model_validate(refresh.parameters["corpus"]) == cfg.corpus
    assert type(cfg.store).model_validate(refresh.parameters["store"]) == cfg.store
    schema = refresh.parameter_openapi_schema
    assert schema["properties"]["corpus"]["$ref"] == "#/definitions/CorpusConfig"
    defs = schema["definitions"]
    assert {"sources", "executor", "lid", "dedup", "filters"} <= defs["CorpusConfig"]["properties"].keys()
    assert {"name", "kind", "paths"} <= defs["SourceConfig"]["properties"].keys()
    assert defs["ExecutorConfig"]["properties"]["kind"]["enum"] == ["local", "ray", "slurm"]
    assert {"uri", "endpoint_url"} <= defs["StoreConfig"]["properties"].keys()
    for name in {"train/train", "pipeline/pipeline"} & deps.keys():  # one GPU job at a time
        assert deps[name].global_concurrency_limit.limit == 1

    with client(server) as c:
        pool = c.read_work_pool(POOL)
    assert pool.type == "process"
    assert "command" in pool.base_job_template["variables"]["properties"]  # the process worker's template


@pytest.mark.slow
def test_prefect_yaml_registers_the_same(registered):
    deps = registered.from_yaml
    assert set(deps) == _expected_names()
    refresh = deps["corpus/corpus-refresh"]
    assert [(s.schedule.cron, s.schedule.timezone) for s in refresh.schedules] == [("0 3 * * 1", "UTC")]
    assert refresh.work_pool_name == POOL
    # LLAMMAS_REPO unset at deploy time: the worker fills in its own checkout when a run starts
    assert refresh.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $LLAMMAS_REPO }}"}}]
    assert "sources" in refresh.parameters["corpus"]
    for name in {"train/train", "pipeline/pipeline"} & deps.keys():
        assert deps[name].global_concurrency_limit.limit == 1
    assert refresh.parameter_openapi_schema["definitions"]["CorpusConfig"]["properties"]["sources"]


@pytest.mark.slow
def test_ui_is_served(server):
    assert _get(f"{server.api}/health") == (200, "true")
    status, html = _get(f"{server.url}/")
    assert status == 200 and "<title>Prefect Server</title>" in html
    script = re.search(r'src="(/assets/[^"]+\.js)"', html).group(1)
    assert _get(f"{server.url}{script}", 10)[0] == 200  # the app bundle itself
    assert json.loads(_get(f"{server.url}/ui-settings")[1])["api_url"] == server.api  # the UI calls this API


# ~20 distinct Estonian paragraphs (>= 60 words each), so LID, the quality filters and dedup keep them.
ESTONIAN = [
    "Tallinna vanalinn on üks paremini säilinud keskaegseid linnasüdameid Põhja-Euroopas ning see kuulub UNESCO maailmapärandi nimekirja. Kitsastel munakivitänavatel jalutades võib näha kaupmeeste maju, vanu kirikuid ja linnamüüri torne, mis on seisnud seal juba sadu aastaid. Suvel on vanalinn täis turiste, kuid talvel muutub see vaikseks ja salapäraseks, eriti siis, kui raekoja platsil avatakse jõuluturg ning õhus on tunda hõõgveini ja piparkookide lõhna.",
    "Eesti metsad katavad ligikaudu poole riigi territooriumist ja need on kohalikele inimestele väga olulised. Metsas käiakse marju ja seeni korjamas, matkamas ning lihtsalt vaikust nautimas. Kõige levinumad puuliigid on mänd, kuusk ja kask, kuid leidub ka tammesid ning sanglepikuid. Riigimetsa majandamise keskus hoiab korras matkaradu ja lõkkekohti, kus igaüks võib tasuta peatuda, telki üles panna ja looduse keskel ööbida, kui ta järgib lihtsaid reegleid ega jäta endast maha prügi.",
    "Saun on eestlaste jaoks palju enamat kui lihtsalt pesemise koht. Vanasti sündisid lapsed saunas, seal raviti haigeid ja peeti tähtsaid jutuajamisi. Võru maakonna suitsusaunakombestik on kantud UNESCO vaimse kultuuripärandi nimekirja, sest see traditsioon on püsinud põlvest põlve. Suitsusaunal ei ole korstnat ning kerise kütmine võtab mitu tundi, kuid leil on pehme ja lõhnab suitsu järele. Pärast sauna hüpatakse sageli järve või veeretatakse end talvel lumes.",
    "Laulupidu on Eesti kultuuri üks tähtsamaid sündmusi, mida on peetud alates aastast 1869. Tuhanded lauljad ja tantsijad kogunevad iga viie aasta tagant Tallinna lauluväljakule, et esitada koos rahvalaule ja uuemaid koorilaule. Kahekümnenda sajandi lõpus oli laulmisel eriline tähendus, sest just laulev revolutsioon aitas rahval taastada oma iseseisvuse ilma relvi kasutamata. Paljud inimesed mäletavad siiani seda tunnet, kui sada tuhat häält laulis üheskoos isamaalisi laule.",
    "Peipsi järv on Euroopa suuruselt neljas järv ning see asub Eesti ja Venemaa piiril. Järve läänekaldal elavad vanausulised, kelle esivanemad põgenesid siia usulise tagakiusamise eest juba mitu sajandit tagasi. Nende külades kasvatatakse sibulat, mis on kuulus oma magusa maitse poolest, ning kuivatatakse kala. Suvel käivad inimesed Peipsi ääres liivarandades ujumas, talvel aga minnakse jääle kalale, kuigi jää paksust tuleb alati enne hoolikalt kontrollida.",
    "Saaremaa on Eesti suurim saar, mida tuntakse tuuleveskite, kadakate ja dolomiidist ehitatud kiviaedade poolest. Kuressaare linnas asub hästi säilinud piiskopilinnus, kus korraldatakse suviti keskaegseid päevi ja kontserte. Saarel on ka Kaali meteoriidikraater, mis tekkis mitu tuhat aastat tagasi, kui taevast kukkus alla suur kivi. Saarlased on tuntud oma huumori ja murde poolest ning nad ütlevad sageli, et Eesti on tegelikult Saaremaa lähedal asuv suur saar.",
    "Eesti on tuntud kui digiriik, kus peaaegu kõiki riigiteenuseid saab kasutada internetis. Inimesed allkirjastavad dokumente ID-kaardiga, esitavad maksudeklaratsiooni mõne minutiga ja saavad valimistel hääletada arvuti kaudu. Riik on loonud ka e-residentsuse programmi, mis võimaldab välismaalastel asutada Eestis ettevõtte ja juhtida seda veebi kaudu. Samas peab riik pidevalt mõtlema ka küberturbele, sest mida rohkem teenuseid on võrgus, seda olulisem on andmete kaitsmine.",
    "Tartu Ülikool asutati 1632. aastal ja see on Eesti vanim ning mainekaim ülikool. Linna nimetatakse sageli heade mõtete linnaks, sest seal elab palju tudengeid ja teadlasi, kes toovad linna ellu noorusliku energia. Emajõe kaldal asuv Toomemägi on armastatud jalutuskoht, kus on vanad varemed, mälestusmärgid ja suured puud. Igal kevadel tähistavad üliõpilased tudengipäevi, mil toimuvad paadiregatid, kontserdid ja mitmesugused lõbusad võistlused.",
    "Rabamatkad on viimastel aastatel muutunud väga populaarseks, sest rabad on Eesti looduse üks omapärasemaid osi. Laudteed viivad läbi samblaväljade, väikeste männikeste ja tumedate laugaste, milles võib soojal päeval isegi ujuda. Varahommikul, kui udu laotub üle raba ja linnud alles ärkavad, on seal eriti ilus. Kõige tuntumad matkarajad asuvad Soomaal ja Viru rabas, kuhu on hea sõita ka pealinnast, sest teekond ei võta rohkem kui tund aega.",
    "Rukkileib on eesti köögi kõige tähtsam toit ja selle küpsetamist peetakse peaaegu pühaks tegevuseks. Vanasti küpsetati leiba kodus suures ahjus kord nädalas ning leivapätsi alla tehti ristimärk, et see oleks õnnistatud. Leiba ei tohtinud visata ega tagurpidi lauale panna, sest see tõi õnnetust. Tänapäeval ostetakse leiba enamasti poest, kuid paljud pered hoiavad endiselt alles oma juuretist ja küpsetavad pühade ajal leiba nagu nende vanaemad.",
    "Kalevipoeg on Eesti rahvuseepos, mille pani kokku Friedrich Reinhold Kreutzwald üheksateistkümnendal sajandil rahvalaulude ja muistendite põhjal. Eepos jutustab hiiglaslikust kangelasest, kes võitleb vaenlastega, ehitab linnu ja rändab maailma äärele. Teos oli rahvusliku ärkamise ajal väga tähtis, sest see näitas, et ka eesti rahval on oma pikk ja uhke ajalugu. Kalevipoja jälgi otsitakse looduses siiani, sest paljud suured kivid ja järved on rahvajuttude järgi tema tegemistest jäänud.",
    "Eesti keel kuulub soome-ugri keelte hulka ja on lähedalt suguluses soome keelega. Keeles on neliteist käänet, kuid puudub grammatiline sugu ning tulevikuvorm, mis teeb selle õppimise huvitavaks väljakutseks. Eesti keeles on palju täishäälikuid ning sõnades võib esineda kolm erinevat hääliku pikkust, mida välismaalastel on sageli raske kuulda. Keelt räägib umbes üks miljon inimest ja selle säilitamist peetakse riigi üheks olulisemaks ülesandeks.",
    "Jaanipäev on suve tähtsaim püha, mida tähistatakse juuni lõpus, kui ööd on kõige lühemad. Jaaniõhtul süüdatakse suur lõke, mille ümber kogunevad sõbrad ja sugulased, et laulda, tantsida ja grillida. Vanade uskumuste järgi tuleb öösel metsast otsida sõnajalaõit, mis toob leidjale õnne ja rikkust. Paljud inimesed sõidavad jaanipäevaks linnast maale ning teed on sel ajal tavaliselt täis autosid, mis liiguvad suvekodude poole.",
    "Kevadel ja sügisel võib Eestis näha suuri rändlindude parvi, sest riik asub olulisel rändeteel. Matsalu rahvuspargis peatuvad tuhanded haned, luiged ja kurvitsalised, kes puhkavad ja toituvad enne edasist lendu. Linnuvaatlejad tulevad siia paljudest riikidest, et jälgida lindude käitumist ja teha pilte. Looduskaitsjad on rajanud vaatlustornid, kust on hea vaade luhtadele, kuid lindude häirimise vältimiseks tuleb kindlasti püsida märgitud radadel ja hoida koerad rihma otsas.",
    "Raudteel on Eesti ajaloos olnud suur roll, sest esimene raudteeliin avati juba 1870. aastal. Rongid ühendasid sadamaid ja linnu ning aitasid talupoegadel viia oma saadusi turule. Tänapäeval sõidavad peamistel liinidel mugavad elektrirongid ja diiselrongid, milles on tasuta internet ja piisavalt ruumi ka jalgratastele. Ehitamisel on Rail Balticu kiirraudtee, mis peaks tulevikus ühendama Tallinna Varssavi ja teiste Kesk-Euroopa linnadega, nii et reis Poola võtaks vaid mõne tunni.",
    "Raamatukogud on Eestis väga populaarsed ja neid külastavad nii lapsed kui ka eakad inimesed. Peale raamatute laenutamise korraldatakse raamatukogudes näitusi, kirjanduslikke õhtuid ja arvutikursusi neile, kes soovivad õppida uusi oskusi. Väiksemates külades on raamatukogu tihti ainus koht, kus inimesed saavad kokku tulla ja omavahel suhelda. Eesti Rahvusraamatukogu hoone Tallinnas on praegu renoveerimisel, kuid pärast tööde lõppu peaks see muutuma veelgi avaramaks.",
    "Kama on eriline eesti toiduaine, mida valmistatakse röstitud odra, rukki, kaera ja herne jahust. Tavaliselt segatakse kama hapupiima või keefiriga ning lisatakse veidi suhkrut või mett, et maitse oleks pehmem. Vanasti oli kama karjaste ja põllutööliste toit, sest seda oli lihtne kaasa võtta ning see andis pikaks ajaks jõudu. Tänapäeval tehakse kamast ka komme, jäätist ja kooke, mida turistid tihti suveniiriks koju viivad.",
    "Eesti talv võib olla pikk ja pime, sest detsembris kestab päevavalgus vaid umbes kuus tundi. Selleks, et pimedat aega paremini taluda, käivad inimesed suusatamas, uisutamas ja talisuplemas. Otepää on tuntud talispordi keskus, kus korraldatakse ka maailmakarika etappe suusatamises. Kui talv on külm, tehakse merejääle jääteed, mis ühendavad mandrit saartega, ning autoga sõitmine üle mere on omamoodi seiklus, mida paljud tahavad kogeda.",
    "Kalapüük on Eesti rannikuküladele olnud sajandeid tähtis elatusallikas. Kalurid püüdsid räime, kilu ja lesta ning soolasid või suitsutasid saagi, et see säiliks kaua. Paljudes kalurikülades on alles vanad võrgukuurid ja paadisadamad, mis meenutavad omaaegset elulaadi. Tänapäeval tegeleb kutselise kalapüügiga vähem inimesi, kuid harrastuskalastajaid on palju ning suvel näeb neid igal pool jõgede ja järvede kallastel õnge hoidmas, sest vaikne hommik vee ääres on neile parim puhkus.",
    "Eesti koolisüsteem on rahvusvahelistes võrdlustes saavutanud väga häid tulemusi, eriti matemaatikas ja loodusteadustes. Õpetajad saavad ise otsustada, kuidas tunde läbi viia, ning koolides kasutatakse palju digitaalseid õppevahendeid. Lapsed alustavad kooliteed seitsmeaastaselt ja põhikool kestab üheksa aastat. Samas on maapiirkondades probleemiks õpilaste vähesus, mistõttu osa väikeseid koole tuleb sulgeda või liita suuremate koolidega. See on keeruline otsus, sest kool on sageli küla süda ja selle kadumine muudab kogu kogukonna elu.",
]


def _run_logs(server, run_id) -> tuple:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId

    with client(server) as c:
        this = FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        logs = "\n".join(l.message for l in c.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))))
        return c.read_flow_run(run_id), logs, c.read_artifacts(flow_run_filter=this), c.read_task_runs(flow_run_filter=this)


def _run_corpus(server, params: dict):
    """Trigger `corpus/corpus` through the API, as the UI's run form does, and let a process worker
    run it from the checkout; returns the finished run, its logs, artifacts and task runs."""
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.api}):
        run = run_deployment("corpus/corpus", parameters=params, timeout=0)
    _cli(server, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once", timeout=240)
    return _run_logs(server, run.id)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> dict:
    """Deployment parameters for a small corpus of our own: quick, and the repository's store stays
    untouched. Shared by the tests below, so later runs find the stage committed."""
    tmp = tmp_path_factory.mktemp("small-corpus")
    docs = tmp / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"et-{i}", "text": t}, ensure_ascii=False) + "\n"
                            for i, t in enumerate(ESTONIAN)))
    return {
        "corpus": {"language": "et", "sources": [{"name": "et-test", "kind": "jsonl", "paths": [str(docs)]}],
                   "executor": {"kind": "local", "tasks": 1, "workers": 1}},
        "store": {"uri": f"file://{tmp}/store", "work_dir": str(tmp / "work")},
    }


RUN_NAME = re.compile(r"^corpus-et-\d{4}-\d{2}-\d{2}-\d{4}$")


@pytest.mark.slow
def test_worker_runs_the_corpus_deployment(server, registered, small_corpus):
    run, logs, artifacts, task_runs = _run_corpus(server, small_corpus)
    assert run.state.is_completed(), f"{run.state}\n{logs[-3000:]}"
    store = Path(small_corpus["store"]["uri"].removeprefix("file://"))
    assert sorted(store.rglob("manifest.json")), "no manifest in the store"
    summary = [a for a in artifacts if a.key == "corpus-et-summary"]
    assert summary and "manifest.json" in str(summary[0].data) and "computed" in str(summary[0].data)
    # the UI: a readable run name, tags for language and stage, task names without random suffixes
    assert RUN_NAME.match(run.name), run.name
    assert {"lang:et", "stage:corpus"} <= set(run.tags), run.tags
    curate = [t for t in task_runs if t.name == "corpus-et"]
    assert len(curate) == 1 and {"lang:et", "stage:corpus"} <= set(curate[0].tags), [t.name for t in task_runs]
    assert curate[0].state.name == "Completed"
    # summaries without missing values or long floats; the step table in human units
    text = str(summary[0].data)
    assert "n/a" not in text and "None" not in text and not re.search(r"\d\.\d{6,}", text), text
    table = [a for a in artifacts if a.key == "corpus-et-steps"]
    assert table, [a.key for a in artifacts]
    rows = json.loads(table[0].data) if isinstance(table[0].data, str) else table[0].data
    assert rows and all("step" in r and not re.search("[\U0001F000-\U0001FAFF]", r["step"]) for r in rows), rows
    assert all(isinstance(v, str) for r in rows for v in r.values()), rows  # formatted, no raw floats
    assert all(re.fullmatch(r"-|\d+(\.\d)? (ms|s)|\d+ (min|h) \d+ (s|min)", r["time"]) for r in rows), rows

    # the same parameters again: the committed stage is reused, and the UI says so the first time
    # (before, the second run showed "Completed" and only the third "Cached")
    run, logs, artifacts, task_runs = _run_corpus(server, small_corpus)
    assert run.state.is_completed(), f"{run.state}\n{logs[-3000:]}"
    curate = [t for t in task_runs if t.name == "corpus-et"]
    assert [t.state.name for t in curate] == ["Cached"], [(t.name, t.state) for t in task_runs]


@pytest.mark.slow
def test_input_error_fails_the_run_with_one_line(server, registered, small_corpus, tmp_path):
    """A missing source is an InputError: the run fails with a one-line state message naming it,
    and no traceback reaches the run's logs."""
    params = json.loads(json.dumps(small_corpus))
    params["corpus"]["sources"][0]["paths"] = [str(tmp_path / "no-such-dump.jsonl")]
    run, logs, _, task_runs = _run_corpus(server, params)
    assert run.state.is_failed(), run.state
    message = run.state.message or ""
    assert "\n" not in message.strip() and "no-such-dump.jsonl" in message, message
    assert "Traceback" not in logs, logs[-3000:]


def _scheduled_runs(server, deployment_id, n: int, timeout: float = 60) -> list:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout
    while True:
        with client(server) as c:
            runs = c.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
        if len(runs) >= n or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


@pytest.mark.slow
def test_scheduler_creates_the_weekly_refresh_runs(server, registered):
    """The server's scheduler (not the client) creates upcoming runs of the README's weekly
    `corpus-refresh`: with SQLAlchemy 2.1 it failed every loop and the Upcoming tab stayed empty."""
    refresh = _deployments(server)["corpus/corpus-refresh"]
    runs = _scheduled_runs(server, refresh.id, 3)
    assert len(runs) >= 3, f"no upcoming runs: {(server.home / 'server.log').read_text()[-3000:]}"
    for run in runs:
        assert run.state.is_scheduled() and run.auto_scheduled
        when = run.expected_start_time.astimezone(dt.timezone.utc)
        assert (when.weekday(), when.hour, when.minute) == (0, 3, 0), when  # Mondays 03:00 UTC
        assert run.parameters["corpus"]["language"] == "et"
    assert "bulk DML" not in (server.home / "server.log").read_text()


@pytest.mark.slow
def test_scheduled_run_completes_through_a_worker(server, registered, small_corpus):
    """An every-minute schedule (test only), anchored so its first run is due at once: the
    scheduler creates the run, a process worker takes it, and it completes."""
    from prefect import Flow
    from prefect.schedules import Interval

    anchor = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=3)
    flow = Flow.from_source(source=str(REPO), entrypoint="flows/corpus.py:corpus_flow")
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.api}):
        deployment_id = flow.to_deployment(
            name="corpus-every-minute", parameters=small_corpus, work_pool_name=POOL,
            schedules=[Interval(60, anchor_date=anchor)]).apply(work_pool_name=POOL)
    try:
        runs = _scheduled_runs(server, deployment_id, 1)
        assert runs and runs[0].auto_scheduled, f"scheduler made no run: {(server.home / 'server.log').read_text()[-3000:]}"
        first = min(runs, key=lambda r: r.expected_start_time)
        assert abs((first.expected_start_time - anchor).total_seconds()) < 1
        while dt.datetime.now(dt.timezone.utc) < first.expected_start_time:
            time.sleep(0.2)
        # due now; the next one is a minute away, outside the worker's 10 s prefetch
        _cli(server, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once", timeout=240)
        run, logs, _, _ = _run_logs(server, first.id)
        assert run.state.is_completed(), f"{run.state}\n{logs[-3000:]}"
        assert RUN_NAME.match(run.name), run.name
    finally:
        with client(server) as c:
            c.delete_deployment(deployment_id)  # the serve test below expects our names only


@pytest.mark.slow
def test_form_errors_point_at_the_field(server, registered):
    """A negative max_steps in the run form: the UI's validation endpoint marks that field with the
    bound it breaks (before: "-1 is not valid under any of the given schemas"), and creating the
    run is refused naming the field. (In the pipeline form, `train` is an optional section, a
    Train/None choice: the form marks the whole section there; creating the run names the field.)"""
    deps = registered.final
    if "train/train" not in deps:
        pytest.skip("no train deployment")
    for name, train_path in (("train/train", ["config", "train"]), ("pipeline/pipeline", ["config", "train"])):
        d = deps.get(name)
        if d is None:
            continue
        params = json.loads(json.dumps(d.parameters))
        node = params
        for part in train_path:
            node = node[part]
        node["cpt"]["max_steps"] = -1
        if name == "train/train":
            status, body = _post(server, "/ui/schemas/validate",
                                 {"schema": d.parameter_openapi_schema, "values": params})
            assert status == 200 and body["valid"] is False, body
            errors = body["errors"]
            for part in [*train_path, "cpt", "max_steps"]:
                hits = [e for e in errors if isinstance(e, dict) and e.get("property") == part]
                assert hits, f"{part!r} not marked: {json.dumps(body)[:800]}"
                errors = hits[0]["errors"]
            assert errors == ["-1 is less than the minimum of 1"], errors
            # an empty field (null) is still valid: it means the default
            node["cpt"]["max_steps"] = None
            status, body = _post(server, "/ui/schemas/validate",
                                 {"schema": d.parameter_openapi_schema, "values": params})
            assert body["valid"] is True, body
            node["cpt"]["max_steps"] = -1
        status, body = _post(server, f"/deployments/{d.id}/create_flow_run", {"parameters": params})
        assert status == 409 and ".".join([*train_path, "cpt", "max_steps"]) in body["detail"], body


def _post(server, path: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(f"{server.api}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.slow
def test_ui_renders_the_run_form(server, registered, tmp_path):
    """deploy/screenshot.py's shot of the corpus run form renders (skipped without Chromium)."""
    import shutil

    chromium = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if chromium is None:
        pytest.skip("no chromium on PATH")
    Image = pytest.importorskip("PIL.Image")

    from deploy.screenshot import shoot

    corpus = registered.final["corpus/corpus"]
    png = tmp_path / "form.png"
    shoot(chromium, f"{server.url}/deployments/deployment/{corpus.id}/run", png, tmp_path / "profile")
    with Image.open(png) as im:
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, "a blank page"  # None: more colours than that


@pytest.mark.slow
def test_serve_mode_registers_and_polls(server):
    """Last: serving re-registers the same names without a pull step (it runs the flows itself)."""
    proc = subprocess.Popen([sys.executable, "-m", "deploy.deployments", "--serve"], cwd=REPO, env=server.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            deps = _deployments(server)
            if deps and all(d.pull_steps is None for d in deps.values()):
                break
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(1)
        assert set(deps) == _expected_names()
        assert all(d.pull_steps is None for d in deps.values())
        assert deps["corpus/corpus-refresh"].schedules[0].schedule.cron == "0 3 * * 1"
    finally:
        _stop(proc)


def test_docs_list_every_deployment():
    """Defect 8: deploy/README.md and the deployments.py docstring listed four deployments, not six."""
    import deploy.deployments as d

    readme = (REPO / "deploy" / "README.md").read_text()
    flow = {"corpus-refresh": "corpus"}
    for name in d.DEPLOYMENTS:
        assert f"| `{flow.get(name, name)}/{name}` |" in readme, name
        assert f"`{name}`" in d.__doc__, name


@pytest.mark.slow
def test_browser_marks_a_negative_max_steps_before_any_run(server, registered, tmp_path):
    """Defect 9: the form's validation request carried a schema without 87 of the 92 `minimum` bounds
    (Prefect's UI copies only some keywords of each property), so a bad number came back only as a
    pop-up after submit. In headless Chromium: type -1 into the train form's CPT Max Steps, submit:
    the field is marked with its bound and no run is created."""
    import shutil

    chromium = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if chromium is None:
        pytest.skip("no chromium on PATH")
    from deploy.browser import Browser

    train = registered.final.get("train/train")
    if train is None:
        pytest.skip("no train deployment")
    with client(server) as c:
        runs_before = len(c.read_flow_runs())
    field = ("(() => { const l = Array.from(document.querySelectorAll('label'))"
             ".filter(l => /^Max Steps/.test(l.textContent.trim()))[0]; if (!l) return null;"
             " let el = l; for (let i = 0; i < 6 && el && !el.querySelector('input'); i++) el = el.parentElement;"
             " const input = el && el.querySelector('input'); if (!input) return null;"
             " input.setAttribute('data-test', 'max-steps'); input.scrollIntoView({block: 'center'});"
             " return input.getBoundingClientRect().toJSON(); })()")
    browser = Browser(chromium, tmp_path / "profile")
    try:
        browser.send("Page.navigate", url=f"{server.url}/deployments/deployment/{train.id}/run")
        browser.wait_for(field, timeout=90)
        time.sleep(0.5)
        value = "document.querySelector('[data-test=max-steps]').value"
        for _ in range(5):  # a busy page may re-render under the first keys: until the field reads -1
            box = browser.js("document.querySelector('[data-test=max-steps]').getBoundingClientRect().toJSON()")
            browser.click(box["x"] + 10, box["y"] + box["height"] / 2)
            browser.js("document.querySelector('[data-test=max-steps]').select()")  # the default (30), selected
            browser.key("Backspace", code=8)
            browser.type("-1")
            time.sleep(1.5)  # the form takes the value on its own schedule
            browser.key("Tab", code=9)
            time.sleep(1.5)
            if browser.js(value) == "-1":
                break
        assert browser.js(value) == "-1"
        browser.js("Array.from(document.querySelectorAll('button')).find(b => b.textContent.trim() === 'Submit').click()")
        message = browser.wait_for(
            "(() => { const p = document.querySelector('[data-test=max-steps]').closest('.schema-form-property');"
            " return p && (p.innerText.match(/-1 is less than the minimum of 1/) || [null])[0]; })()", timeout=60)
        assert message == "-1 is less than the minimum of 1"
    finally:
        browser.close()
    with client(server) as c:
        assert len(c.read_flow_runs()) == runs_before  # refused in the form: no run
