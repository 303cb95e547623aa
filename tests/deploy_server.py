"""A real Prefect server for the deployment tests (`prefect server start`, SQLite in a temp folder), shared
by tests/test_deploy_*.py in one session: the deployments registered from deploy/deployments.py and
deploy/prefect.yaml, a small corpus to run through a process worker, and helpers to read runs back.
A plugin of tests/conftest.py (`pytest_plugins`), so its session fixtures are one server for all of those
files (a fixture imported into each module would start one server per module)."""

from __future__ import annotations

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

REPO = Path(__file__).resolve().parents[1]
POOL = "llammas-process"


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


@pytest.fixture(scope="session")
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
            "evaluate": "evaluate", "pipeline": "pipeline", "scaling": "scaling"}
    return {f"{flow[n]}/{n}" for n, (entry, _) in DEPLOYMENTS.items() if (REPO / entry.split(":")[0]).is_file()}


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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


def _scheduled_runs(server, deployment_id, n: int, timeout: float = 60) -> list:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout
    while True:
        with client(server) as c:
            runs = c.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
        if len(runs) >= n or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def _post(server, path: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(f"{server.api}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
