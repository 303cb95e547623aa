"""Deployments against a real Prefect server (`prefect server start`, SQLite in a temp folder):
deploy/deployments.py and deploy/prefect.yaml register what the README promises, the UI is served,
and a process worker runs a corpus deployment to COMPLETED. Plus static checks of the compose and
Kubernetes files, which cannot run here (no container engine)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
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
    assert services["prefect-server"]["image"] == "prefecthq/prefect:3.8.8-python3.11"
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

    flow = {"corpus-refresh": "corpus", "corpus": "corpus", "train": "train", "pipeline": "pipeline"}
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
    assert refresh.parameters["corpus"] == cfg.corpus.model_dump(mode="json")
    assert refresh.parameters["store"] == cfg.store.model_dump(mode="json")
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


def _run_corpus(server, params: dict):
    """Trigger `corpus/corpus` through the API, as the UI's run form does, and let a process worker
    run it from the checkout; returns the finished run, its logs, artifacts and task runs."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: server.api}):
        run = run_deployment("corpus/corpus", parameters=params, timeout=0)
    _cli(server, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once", timeout=240)
    with client(server) as c:
        this = FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        logs = "\n".join(l.message for l in c.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))))
        return c.read_flow_run(run.id), logs, c.read_artifacts(flow_run_filter=this), c.read_task_runs(flow_run_filter=this)


@pytest.mark.slow
def test_worker_runs_the_corpus_deployment(server, registered, tmp_path):
    """A small input of our own keeps it quick and keeps the repository's store untouched."""
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"et-{i}", "text": t}, ensure_ascii=False) + "\n"
                            for i, t in enumerate(ESTONIAN)))
    params = {
        "corpus": {"language": "et", "sources": [{"name": "et-test", "kind": "jsonl", "paths": [str(docs)]}],
                   "executor": {"kind": "local", "tasks": 1, "workers": 1}},
        "store": {"uri": f"file://{tmp_path}/store", "work_dir": str(tmp_path / "work")},
    }
    run, logs, artifacts, _ = _run_corpus(server, params)
    assert run.state.is_completed(), f"{run.state}\n{logs[-3000:]}"
    assert sorted((tmp_path / "store").rglob("manifest.json")), "no manifest in the store"
    summary = [a for a in artifacts if a.key == "corpus-et-summary"]
    assert summary and "manifest.json" in str(summary[0].data) and "computed" in str(summary[0].data)

    # the same parameters again: the finished stage is not recomputed (task cache key over config
    # and inputs; without the cached result, the committed stage manifest is found and reused)
    run, logs, artifacts, task_runs = _run_corpus(server, params)
    assert run.state.is_completed(), f"{run.state}\n{logs[-3000:]}"
    curate = [t for t in task_runs if t.name.startswith("corpus-")]
    assert curate and (curate[0].state.name == "Cached"
                       or any("reused" in str(a.data) for a in artifacts)), (curate, artifacts)


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
