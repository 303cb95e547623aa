"""Source texts for the llammas demo inputs, written for this project (CC0 1.0).

All people, organisations, web sites, e-mail addresses, phone numbers and personal codes here are
invented. Domains use the reserved `.example` TLD and IPs the documentation ranges (RFC 5737).
make_demo_inputs.py turns these texts into demo/web/*.jsonl and demo/warc/demo.warc.gz.

Each Estonian doc is (slug, topic, date or None, text); paragraphs are separated by "\n".
"""

# fmt: off
ET_DOCS = [
("parnu-promenaad", "news", "2024-05-14",
 "Pärnu rannapromenaadi uuendamine jõudis eelmisel nädalal lõpusirgele. Ehitajad paigaldasid uued pingid, prügikastid ja valgustid ning istutasid mööda kallast ligi kolmsada põõsast. Linnavalitsuse teatel läks töö maksma veidi rohkem, kui algul plaaniti, sest vana kivisillutise alt leiti mädanenud torustik, mis tuli samuti välja vahetada.\n"
 "Suvituslinna elanikud on muudatustega enamasti rahul. Mitu kohalikku kohvikupidajat loodab, et korrastatud promenaad toob sel hooajal randa rohkem külastajaid ka õhtustel tundidel, kui varem oli seal pime ja ebamugav jalutada."),
("ilm-nadalavahetus", "weather", "2024-10-11",
 "Eesti Ilmateenistuse prognoosi järgi püsib nädalavahetusel kogu riigis vihmane ja tuuline ilm. Laupäeval liigub üle Läänemere madalrõhkkond, mis toob saartele ja läänerannikule tugevaid hooge, kohati kuni kakskümmend meetrit sekundis. Sisemaal on sooja kümme kuni kaksteist kraadi, rannikul mõnevõrra jahedam.\n"
 "Pühapäeva pärastlõunal sajuhood vaibuvad ning pilvede vahelt võib isegi päikest näha. Sünoptikud soovitavad paadiomanikel siiski sadamasse jääda ja aiapidajatel kerged mööblitükid tuule eest varjule tõsta, sest puhanguid võib esineda veel esmaspäeva hommikulgi."),
("rabarberikook", "recipe", None,
 "Rabarberikook on Eesti kodudes üks kindlamaid kevadisi küpsetisi ja selle valmistamine ei nõua erilisi oskusi. Vahusta kaks muna koos klaasitäie suhkruga heledaks vahuks, lisa sulatatud või, hapukoor ning küpsetuspulbriga segatud jahu. Vala tainas võiga määritud vormi.\n"
 "Lõika rabarberivarred väikesteks tükkideks, puista need taignale ja raputa peale veidi kaneeli. Küpseta kakssada kraadi juures umbes kolmveerand tundi, kuni kook on pealt kuldne. Soojalt serveeritult sobib selle kõrvale hästi vaniljekaste või kulbitäis vahukoort."),
("vald-eelarve", "local-government", "2024-12-05",
 "Viljandi vallavolikogu kinnitas oma viimasel istungil järgmise aasta eelarve, mille suurim kuluartikkel on jätkuvalt haridus. Koolide ja lasteaedade ülalpidamiseks kulub ligi pool valla rahast. Lisaks eraldati raha kahe külatee tolmuvabaks muutmiseks ning rahvamaja katuse parandamiseks.\n"
 "Opositsiooni esindajad kritiseerisid, et eelarves on liiga vähe tähelepanu pööratud ühistranspordile. Vallavanema sõnul otsitakse bussiliinide tihendamiseks lisaraha riigilt ja kavatsetakse teha koostööd naaberomavalitsustega, et kaugemate külade inimesed pääseksid tööle ja arsti juurde senisest mugavamalt."),
("korvpall-tsehhi", "sport", "2024-02-23",
 "Eesti korvpallikoondis alistas kodusaalis peetud valikmängus Tšehhi võistkonna kaheksa punktiga. Esimene poolaeg oli tasavägine, kuid pärast vaheaega tõusid kodumeeskonna tagamängijad hoogu ja tabasid järjest mitu kaugviset. Publik toetas mängijaid valjult kuni viimase vileni.\n"
 "Peatreener kiitis pärast kohtumist eriti kaitsemängu, mis sundis vastaseid mitmeks kiirustatud viskeks. Järgmisena ootab koondist võõrsil mäng Kreekaga, kus võit kindlustaks juba pääsu finaalturniirile. Mängijad tunnistasid, et see saab olema hooaja seni raskeim katsumus."),
("raamatupidamise-tarkvara", "tech", "2024-03-08",
 "Paljud väikeettevõtted hoiavad oma raamatupidamist ikka veel tabelarvutuses, kuigi pilvepõhised lahendused on viimastel aastatel tunduvalt odavamaks muutunud. Tallinna idufirma arendas programmi, mis loeb ostuarved automaatselt sisse ja sorteerib need kulugruppidesse. Kasutaja peab vaid kontrollima, et masin pole midagi valesti tuvastanud.\n"
 "Ettevõtte juhi sõnul on suurim väljakutse olnud eesti keele eripärad, sest arvetel esineb palju lühendeid ja käänatud sõnavorme. Praegu katsetab rakendust umbes paarsada klienti ning sügisel loodetakse see avada kõigile huvilistele."),
("rakvere-teater", "culture", "2024-09-20",
 "Rakvere teatris esietendus reedel uus lavastus, mis põhineb ühe unustatud kirjaniku novellidel. Lugu jälgib perekonda, kes kolib sõjajärgsetel aastatel linnast maale ja püüab harjuda kolhoosi eluga. Näitlejate mäng on tagasihoidlik ja täpne, lavakujundus aga üllatavalt lihtne: laval on vaid puulaud, mõned toolid ja vana raadio.\n"
 "Lavastaja ütles, et tahtis näidata, kuidas suured ajaloosündmused peegelduvad tavaliste inimeste igapäevastes otsustes. Etendused jätkuvad kuni detsembri keskpaigani ning piletid on juba praegu peaaegu välja müüdud."),
("matsalu-linnud", "nature", "2024-04-09",
 "Matsalu rahvuspargis algas taas rändlindude vaatlushooaeg. Igal kevadel peatub lahe ääres luhtadel kümneid tuhandeid hanesid, luikesid ja parte, kes puhkavad siin enne edasilendu põhja poole. Linnuvaatlejad soovitavad tulla varahommikul, mil linnud on kõige aktiivsemad ja tuul tavaliselt vaiksem.\n"
 "Rahvuspargi töötajad paluvad külastajatel püsida märgistatud radadel ega minna roostikku, sest seal pesitsevad haruldased liigid on häirimise suhtes väga tundlikud. Vaatetornidest avaneb lahele hea vaade ja kaasa tasub võtta binokkel."),
("gripivaktsiin", "health", "2024-10-01",
 "Perearstid tuletavad meelde, et gripihooaja eel on õige aeg end vaktsineerida. Vaktsiin hakkab kaitsma umbes kahe nädala möödudes, seega ei tasu oodata, kuni haigestumine juba laialt levib. Eriti oluline on kaitse eakatele, kroonilistele haigetele ja rasedatele.\n"
 "Lisaks vaktsineerimisele aitavad nakkust vältida lihtsad harjumused: sage kätepesu, ruumide tuulutamine ning haigena koju jäämine. Kui palavik tõuseb kõrgele ega lange mitme päeva jooksul, peaks kindlasti pöörduma arsti poole või helistama perearsti nõuandeliinile."),
("robootikaring", "education", "2024-09-12",
 "Üha rohkem gümnaasiume pakub õpilastele võimalust valida programmeerimise süvakursus. Tartus alustas sel sügisel katseprojekt, kus ülikooli tudengid juhendavad koolinoori robootikaringis. Õpilased ehitavad väikeseid sõidukeid, mis oskavad takistustest mööda liikuda ja valguse järgi suunda muuta.\n"
 "Õpetajad märgivad, et praktiline töö aitab ka matemaatikas paremini hakkama saada, sest abstraktsed valemid saavad äkki selge tähenduse. Projekti eestvedajad loodavad järgmisel aastal kaasata veel mitu maakoolidest pärit rühma."),
("poud-saak", "agriculture", "2024-08-28",
 "Lõuna-Eesti talunikud kurdavad, et põuane suvi vähendas tänavu teraviljasaaki märgatavalt. Mitmes piirkonnas jäi oder ja nisu madalaks ning terad ei jõudnud korralikult täituda. Kartulikasvatajad seevastu on olukorraga rahul, sest augustikuised vihmad tulid mugulatele parajal ajal.\n"
 "Põllumeeste liit on pöördunud ministeeriumi poole palvega kaaluda kriisiabi neile, kelle kahjud ületavad kolmandiku tavapärasest saagist. Samas rõhutavad spetsialistid, et pikemas plaanis tuleks rohkem mõelda niisutussüsteemidele ja põuakindlamatele sortidele."),
("narva-kindlus", "history", None,
 "Narva kindlus on üks Eesti paremini säilinud keskaegseid ehitisi. Hermanni linnuse ehitamist alustasid Taani kuninga vasallid juba kolmeteistkümnendal sajandil, hiljem laiendas seda Liivi ordu. Jõe vastaskaldal asub Ivangorodi kindlus, mistõttu on see paik aastasadu olnud kahe maailma kohtumispunkt.\n"
 "Tänapäeval tegutseb linnuses muuseum, kus saab tutvuda piirilinna keerulise ajalooga. Suviti korraldatakse õuel käsitöölaatasid ja keskaegseid pidustusi ning torni tippu ronijaid ootab avar vaade üle jõe ja linna."),
("raudtee-parnumaa", "transport", "2024-06-17",
 "Uue raudtee ehitustööd on jõudnud Pärnumaale, kus kerkivad esimesed viaduktid. Kohalikud elanikud on mures, et raskeveokid lõhuvad külateid ja tekitavad müra ka öisel ajal. Ehitaja lubas, et kahjustatud teed taastatakse ning kõige lärmakamad tööd tehakse päeval.\n"
 "Projektijuhi sõnul on graafik pingeline, kuid praegu liigutakse plaanipäraselt. Kui kõik läheb hästi, peaksid esimesed rongid sõitma uuel raudteel mõne aasta pärast. Seni tuleb autojuhtidel arvestada ajutiste ümbersõitude ja kiiruspiirangutega."),
("jarvede-soojenemine", "science", "2024-07-03",
 "Ülikooli teadlased uurisid, kuidas kliimamuutus mõjutab Eesti järvede veetaset ja kalastikku. Mitme aastakümne mõõtmised näitavad, et talvine jääkate on muutunud lühemaks ja vesi soojeneb kevadel varem. See soodustab vetikate vohamist, mis omakorda vähendab vees lahustunud hapniku hulka.\n"
 "Uuringu autorid hoiatavad, et külmalembesed kalaliigid, näiteks rääbis, võivad mõnest järvest hoopis kaduda. Nad soovitavad piirata põllumajandusest pärit toitainete jõudmist veekogudesse, sest just see võimendab soojenemise kahjulikku mõju."),
("hinnatous-aeglustus", "economy", "2024-11-15",
 "Statistikaameti andmetel aeglustus hinnatõus eelmisel kuul teist korda järjest. Kõige rohkem odavnesid kütus ja elekter, samas kui toidukaupade hinnad jäid enam-vähem samale tasemele. Majandusanalüütikud peavad seda märgiks, et kõige keerulisem periood võib olla möödas.\n"
 "Palgad on viimasel aastal tõusnud kiiremini kui hinnad, mis tähendab, et inimeste ostujõud hakkab tasapisi taastuma. Siiski tuletavad eksperdid meelde, et laenuintressid püsivad kõrged ja paljud pered peavad igakuiseid kulutusi hoolikalt planeerima."),
("korterite-noudlus", "housing", "2024-04-25",
 "Kinnisvaramaaklerite sõnul on Tallinna äärelinnades korterite nõudlus taas kasvama hakanud. Noored pered otsivad eelkõige kolmetoalisi kodusid, kus oleks lähedal lasteaed ja hea bussiühendus kesklinnaga. Uusarendustes müüakse sageli maha juba pooled korterid enne, kui maja on valmis.\n"
 "Samal ajal jääb vanemate paneelmajade müük venima, sest ostjad kardavad suuri renoveerimiskulusid. Ühistud, kes on juba saanud toetust fassaadi soojustamiseks, leiavad ostjaid kiiremini ja saavad oma kodude eest ka kõrgemat hinda."),
("haapsalu-festival", "events", "2024-07-29",
 "Haapsalu vanalinnas toimub augusti teisel nädalavahetusel traditsiooniline valge daami päevade festival. Kavas on kontserdid piiskopilinnuse õuel, lastele mõeldud meisterdamistoad ning õhtune etendus, mis jutustab legendi kirikuaknas ilmuvast kummitusest. Esinevad nii kohalikud kollektiivid kui ka külalised Soomest.\n"
 "Korraldajad soovitavad tulla rongiga, sest vanalinna tänavad suletakse festivali ajal autoliikluseks. Kõik üritused on tasuta, välja arvatud õhtune etendus, mille piletid tasub varakult soetada. Halva ilma korral kolitakse kontserdid kultuurikeskuse suurde saali."),
("naabrid-arvamus", "opinion", "2024-06-02",
 "Mulle tundub, et oleme unustanud, kui tähtis on naabritega lihtsalt juttu ajada. Vanasti teadsid kõik, kes trepikojas elab ja kelle laps parajasti kooli läheb. Nüüd möödume üksteisest, pilk telefonis, ja ei tea isegi kõrvalkorteri elaniku nime.\n"
 "Eelmisel suvel korraldasime oma maja hoovis ühise grillipäeva. Algul tuli vaid paar inimest, kuid õhtuks olid pingid rahvast täis ja keegi tõi kitarri. Sellest peale aitame üksteist palju rohkem, olgu see lillede kastmine või remondinõu."),
("kass-koju", "pets", None,
 "Kassi toomine koju on suur otsus, mis nõuab läbimõtlemist. Enne looma võtmist tasub kaaluda, kas teil on piisavalt aega temaga tegeleda ja kas keegi perest ei ole allergiline. Varjupaikades ootab uut kodu palju täiskasvanud kasse, kelle iseloom on juba teada.\n"
 "Esimestel päevadel tuleb loomale anda rahu ja võimalus uue keskkonnaga harjuda. Pane liivakast vaiksesse nurka, jälgi, et kaussides oleks alati värske vesi, ja vii kass kindlasti veterinaari juurde tervisekontrolli ning kiibistamiseks."),
("istikud-valja", "gardening", "2024-05-06",
 "Kevadel on aednike esimene mure, millal julgeb taimed välja istutada. Tomatid ja kurgid on külmatundlikud, mistõttu tasub nendega oodata, kuni öökülmade oht on möödas. Lõuna-Eestis on see tavaliselt mai lõpus, saartel ja rannikul vahel veidi varem.\n"
 "Seniks võib taimi karastada, viies neid päeval mõneks tunniks õue ja õhtul tagasi tuppa. Nii harjuvad need tuule ja päikesega ega saa istutamisel šokki. Peenramaa tuleks aegsasti kobestada ja sinna lisada komposti, et juured leiaksid piisavalt toitu."),
("politsei-tunnistajad", "news", "2024-11-21",
 "Politsei otsib tunnistajaid liiklusõnnetusele, mis juhtus kolmapäeva õhtul Tartu maanteel Kose lähedal. Sõiduauto kaldus vastassuunavööndisse ja põrkas kokku veoautoga. Mõlemad juhid toimetati haiglasse, nende elu ohus ei ole. Õnnetuse asjaolud on veel selgitamisel.\n"
 "Kõigil, kes nägid juhtunut või kelle autos oli sel ajal töötav pardakaamera, palutakse võtta ühendust häirekeskusega. Politsei tuletab meelde, et pimedal ajal ja libedaga peab kiirust vähendama ning hoidma ees sõitjaga piisavat pikivahet."),
("serveri-rynnak", "tech", "2024-02-12",
 "Meie ettevõtte serverit tabas eelmisel nädalal ulatuslik rünnak, mille käigus prooviti tuhandeid kordi järjest arvata administraatori parooli. Logidest selgus, et enamik katseid tuli aadressilt 203.0.113.57, mille me tulemüüris kohe blokeerisime. Õnneks olid kõik kontod kaitstud kaheastmelise autentimisega, nii et sissetungijal ei õnnestunud midagi.\n"
 "Soovitame ka teistel väikeettevõtetel üle vaadata oma serverite seaded. Keelake parooliga sisselogimine, kasutage võtmeid ja hoidke tarkvara alati ajakohasena, sest ründajad otsivad just neid kõige lihtsamaid nõrkusi. Kui kahtlustate, et probleem on hoopis nimeserveri seadistuses, proovige ajutiselt avalikku nimeserverit 9.9.9.9 ja vaadake, kas viga kaob."),
("kadunud-koer", "classifieds", "2024-03-18",
 "Kadunud on meie pere koer Muri, keskmise suurusega pruunikas segavereline isane, kellel on kaelas punane rihm. Ta jooksis esmaspäeva hommikul Nõmme turu lähedalt minema, kui teda ehmatas möödasõitev prügiauto. Muri on sõbralik, kuid võõraste suhtes veidi arg ega pruugi kutsumise peale kohe tulla.\n"
 "Kui olete teda näinud, palun helistage numbril +372 5123 4567 või kirjutage aadressile kadunud.muri@postkast.example. Leidjat ootab väike vaevatasu ja meie suur tänu, sest lapsed on tema pärast väga mures."),
("toopakkumine-raamatupidaja", "jobs", "2024-08-05",
 "Otsime oma meeskonda kogenud raamatupidajat, kes oskab iseseisvalt koostada aastaaruandeid ja suhelda maksuametiga. Pakume paindlikku tööaega, võimalust osaliselt kodus töötada ning sõbralikku kollektiivi Tartu kesklinnas. Eelnev kogemus väikeettevõtete teenindamisel on kindlasti eeliseks.\n"
 "Kandideerimiseks saatke oma elulugu ja lühike motivatsioonikiri hiljemalt selle kuu lõpuks aadressile tood@raamatukoda.example. Lisainfot saab personalijuhilt Maarja Tammelt telefonil 5599 1234 tööpäevadel kella kümnest neljani. Vestlustele kutsume välja vaid sobivaimad kandidaadid."),
("parimismenetlus-teade", "notices", "2024-01-30",
 "Maakohus teatab, et pärimismenetluses on algatatud asi seoses Jaan Kase surmaga. Pärandaja isikukood oli 35501234784, viimane elukoht asus Saue vallas Laagri alevikus. Kõiki isikuid, kellel on pärandi suhtes nõudeid, palutakse neist teada anda kolme kuu jooksul.\n"
 "Avaldused tuleb esitada kirjalikult notaribüroole, mis menetlust läbi viib. Tähtaja möödumisel ei ole võlausaldajatel enam võimalik oma nõudeid pärijate vastu esitada, välja arvatud seaduses ettenähtud erandjuhtudel."),
("kooli-heategevuslaat", "education", "2024-11-04",
 "Kooli direktor soovib tänada kõiki lapsevanemaid, kes aitasid korraldada sügisest heategevuslikku laata. Kokku koguti üle kahe tuhande euro, mille eest ostetakse algklasside raamatukokku uusi lasteraamatuid ja lauamänge. Eriti suur aitäh kuulub neile, kes küpsetasid kooke ja pirukaid.\n"
 "Kui soovite osaleda järgmise ürituse ettevalmistamises, andke sellest teada hoolekogu esimehele Kristjan Lepale aadressil kristjan.lepp@kool.example või helistage kooli kantseleisse numbril +372 742 1188. Iga abikäsi on väga oodatud ja teretulnud."),
("maratoni-rada", "sport", "2024-09-02",
 "Tallinna maratonile registreerus tänavu rekordarv jooksjaid, nende seas ka sadu välismaalasi. Korraldajad on rada veidi muutnud, et vältida kitsast lõiku sadama juures, kus möödunud aastal tekkisid ummikud. Uus marsruut kulgeb mööda Pirita teed ja naaseb vanalinna kaudu Vabaduse väljakule.\n"
 "Treenerid soovitavad viimasel nädalal enne võistlust koormust vähendada ja keskenduda unele ning toitumisele. Võistluspäeva hommikul ei tohiks proovida uusi jooke ega geele, sest kõht võib nendele ootamatult reageerida."),
("seljanka", "recipe", None,
 "Seljanka on talvel hea soe supp, mida saab keeta ka pühadest üle jäänud lihast. Pruunista potis sibul ja porgand, lisa tükeldatud sink, vorst ja hapukurgid ning kalla peale puljong. Lase supil tasasel tulel vähemalt pool tundi haududa, et maitsed seguneksid.\n"
 "Enne serveerimist maitsesta soola, pipra ja tomatipastaga ning lisa taldrikusse viil sidrunit, mõni oliiv ja lusikatäis hapukoort. Värske rukkileib ja peotäis hakitud tilli teevad söögikorra eriti maitsvaks."),
("biojaatmed", "local-government", "2024-10-22",
 "Alates järgmise aasta algusest peavad kõik eramajade omanikud biojäätmed liigiti koguma. Kes komposteerib köögijäätmed oma aias, peab sellest vallale teada andma ja kompostri paigaldama nii, et see ei häiriks naabreid ega meelitaks ligi närilisi. Ülejäänud majapidamised saavad prügiveofirmalt pruuni konteineri.\n"
 "Keskkonnaspetsialisti sõnul vähendab liigiti kogumine olmejäätmete hulka ligi kolmandiku võrra. Ühtlasi loodetakse, et ümbertöötlemisest saadud kompost leiab kasutust valla haljastuses ja kohalikes aiandusringides."),
("telefoni-aku", "tech", None,
 "Kui nutitelefoni aku tühjeneb liiga kiiresti, tasub kõigepealt vaadata, millised rakendused töötavad taustal. Sageli kulutavad kõige rohkem energiat asukohateenused ja pidevalt uuenev sotsiaalmeedia voog. Seadetes saab määrata, et rakendused kasutaksid asukohta ainult siis, kui need on avatud.\n"
 "Abiks on ka ekraani heleduse vähendamine ja tumeda teema kasutamine. Aku eluiga pikendab see, kui telefoni ei hoita pidevalt sajaprotsendilise laetuse juures ega jäeta kuuma autosse päikese kätte."),
# --- longer documents: the near-duplicates below are made from these ---
("praamiliiklus-torm", "news", "2024-10-17",
 "Saaremaa ja mandri vaheline praamiühendus oli eile hommikul mitu tundi häiritud, kuna tugev tuul ei lubanud laevadel Virtsu sadamas ohutult randuda. Kuivastu poolel kogunes sadamasse pikk autode järjekord ning osa reisijaid otsustas sõidu hoopis järgmisesse päeva lükata. Vedaja teatas, et esimene reis pärast pausi väljus alles lõuna paiku.\n"
 "Reisijad kurtsid, et infot jagati liiga vähe ja sadamahoones puudus teave selle kohta, millal liiklus taastub. Laevafirma esindaja vabandas segaduse pärast ning lubas, et edaspidi saadetakse piletiostjatele hilinemise korral automaatne sõnum telefonile.\n"
 "Meteoroloogide hinnangul võib sarnaseid olukordi sel sügisel ette tulla veelgi, sest tormid on viimastel aastatel muutunud sagedasemaks. Saarlased on juba ammu nõudnud, et riik kaaluks püsiühenduse rajamist, kuid sild või tunnel on seni jäänud vaid aruteluteemaks."),
("laulupidu-ettevalmistus", "culture", "2024-05-30",
 "Laulupeo ettevalmistused on täies hoos ja üle Eesti harjutavad koorid juba mitmendat kuud. Tänavuse peo repertuaar ühendab vanu rahvaviise ja täiesti uusi teoseid, mille noored heliloojad kirjutasid spetsiaalselt selleks sündmuseks. Kunstiline juht rõhutas, et just see vana ja uue kohtumine annab peole erilise hõngu.\n"
 "Tallinna lauluväljakul ehitatakse samal ajal ümber laululava ümbrust, et suur rahvahulk saaks liikuda ohutumalt. Korraldajad ootavad kahe päeva jooksul kohale üle saja tuhande külastaja, mistõttu soovitatakse kasutada ühistransporti ja võtta kaasa vihmakeep.\n"
 "Paljude lauljate jaoks on rongkäik läbi linna peo kõige liigutavam osa. Maakondade kaupa liikuvad kolonnid, rahvariietes lapsed ja vanavanemad ning tänavate ääres lehvitavad pealtvaatajad loovad tunde, mida on raske sõnadega kirjeldada, kuid mis jääb meelde kogu eluks."),
("digiriik-kulisside-taga", "tech", "2024-03-27",
 "Eesti digiriigi teenused on paljudele igapäevaelu loomulik osa, kuid vähesed mõtlevad sellele, mis toimub kulisside taga. Andmevahetuskiht võimaldab eri asutuste andmebaasidel omavahel turvaliselt suhelda, nii et inimene ei pea sama teavet mitu korda esitama. Kui perearst kirjutab retsepti, näeb apteeker seda kohe, ilma et keegi paberit ulatama peaks.\n"
 "Süsteemi arendajad tunnistavad, et kõige keerulisem on hoida tasakaalu mugavuse ja privaatsuse vahel. Iga kodanik saab riigiportaalis vaadata, millised ametnikud on tema andmeid päringu kaudu kasutanud, ning vajadusel küsida selgitust.\n"
 "Viimastel aastatel on rohkem tähelepanu pööratud ka küberturbele. Pärast mitut tõsist intsidenti uuendati vananenud komponente ja loodi eraldi meeskond, kes harjutab regulaarselt rünnakute tõrjumist, et teenused töötaksid ka kriisiolukorras."),
("rabamatkad", "nature", None,
 "Rabamatkad on viimasel kümnendil muutunud eestlaste seas väga populaarseks. Laudteed viivad läbi sammaldunud mättastike ja väikeste laugaste, kus vesi on tumepruun ja peegeldab taevast nagu suur aken. Eriti kaunis on raba sügisel, mil jõhvikad punetavad ja kased muutuvad kollaseks.\n"
 "Kogenud matkajad soovitavad jalga panna veekindlad jalanõud, sest laudteed võivad olla libedad ning mõnel pool on lauad vajunud vee alla. Kaasa tasub võtta termos sooja teega ja vähemalt väike suupiste, kuna lähim pood võib olla kümnete kilomeetrite kaugusel.\n"
 "Looduskaitsjad paluvad matkajatel mitte laudteelt maha astuda, sest turbasammal taastub väga aeglaselt ja üks tallamisjälg võib jääda nähtavaks mitmeks aastaks. Samuti ei tohi rabas teha lõket ega jätta maha prügi, isegi mitte õunasüdamikke."),
("uni-ja-tervis", "health", "2024-01-15",
 "Unearstid hoiatavad, et täiskasvanud eestlane magab keskmiselt vähem, kui tervise hoidmiseks vaja oleks. Lühike uni mõjutab keskendumisvõimet, tuju ja isegi immuunsust ning pikapeale suurendab see südamehaiguste riski. Kõige sagedamini jääb uni lühikeseks nendel, kes töötavad vahetustega või kasutavad õhtuti kaua nutiseadmeid.\n"
 "Spetsialistide nõuanne on lihtne: mine magama ja ärka iga päev enam-vähem samal ajal, ka nädalavahetustel. Magamistuba peaks olema jahe, pime ja vaikne ning voodis ei tasu lugeda töökirju ega vaadata uudiseid, mis võivad meelt ärevaks teha.\n"
 "Kui uinumisraskused kestavad mitu nädalat ja päevane väsimus segab tööd, on mõistlik rääkida perearstiga. Unetus on hästi ravitav, kuid unerohud ei ole esimene valik, sest palju paremini aitab sageli kognitiivne käitumisteraapia."),
("metsatoostus-tulevik", "economy", "2024-08-19",
 "Metsatööstus on Eesti üks suuremaid ekspordiharusid, kuid selle tulevik on viimastel aastatel tekitanud ägedaid vaidlusi. Ühelt poolt annab sektor tööd tuhandetele inimestele maapiirkondades, teiselt poolt on looduskaitsjad mures, et raiemahud on liiga suured ja vanu metsi jääb järjest vähemaks.\n"
 "Valitsus koostab praegu uut metsanduse arengukava, mis peaks need huvid tasakaalustama. Arutelul on nii raiete piiramine kaitsealade läheduses kui ka toetused metsaomanikele, kes otsustavad oma metsa looduslikuna hoida.\n"
 "Puidutöötlejad rõhutavad, et väärtuslikum oleks eksportida mitte toorpalki ega hakkepuitu, vaid valmis tooteid, näiteks mööblit ja puitmaju. Nii jääks suurem osa tulust Eestisse ning sama koguse puiduga oleks võimalik luua rohkem töökohti."),
("lapsed-loevad", "education", "2024-04-02",
 "Raamatukoguhoidjad on märganud, et lapsed loevad jälle rohkem kui veel mõni aasta tagasi. Suur roll on olnud koolide lugemisprogrammidel, kus iga klass valib kuus ühe raamatu ja arutleb selle üle ühiselt. Populaarsed on nii seiklusjutud kui ka koomiksid, mida varem peeti tõsise lugemise kõrval teisejärguliseks.\n"
 "Lapsevanematele soovitatakse lugeda lastega koos ka siis, kui laps on juba ise lugema õppinud. Ühine õhtune lugemishetk aitab sõnavara arendada ja annab võimaluse rääkida teemadel, mis muidu jääksid igapäevases kiirustamises puudutamata.\n"
 "Mitmes maakonnas on raamatukogud hakanud pakkuma ka lugemiskoeri. Spetsiaalse koolituse läbinud koer kuulab rahulikult, kui laps talle valjusti ette loeb, ja see aitab eriti neid, kes kardavad klassi ees lugedes eksida."),
("suusamaraton-sula", "sport", "2024-02-19",
 "Suusamaratoni korraldajad pidid tänavu viimasel hetkel rada muutma, sest sula sõi Otepää kõrgustikult suure osa lumest. Lumekahurid töötasid nädal aega ööpäevaringselt ning vabatahtlikud vedasid käruga lund kohtadesse, kus muld paistis läbi. Lõpuks õnnestus siiski ette valmistada lühendatud, kuid täiesti sõidetav rada.\n"
 "Osalejaid oli veidi vähem kui tavaliselt, kuid meeleolu oli rõõmus. Paljud suusatajad ütlesid, et just raskemad olud teevad sõidu meeldejäävaks ja lõpetamine pakub seda suuremat rahuldust.\n"
 "Korraldajad tunnistavad, et soojad talved sunnivad mõtlema sellele, kuidas üritust tulevikus kindlustada. Kaalumisel on nii lume talletamine eelmisest talvest saepuru all kui ka võistluse ajastamine varasemale kuupäevale, mil külmad ilmad on tõenäolisemad."),
("arkamisaeg", "history", None,
 "Ärkamisaeg oli üheksateistkümnenda sajandi teisel poolel periood, mil eestlased hakkasid end teadlikult rahvana mõistma. Ajalehed avaldasid talurahvale mõeldud lugusid, mis kõnelesid haridusest, põllumajandusest ja emakeele väärtusest. Tekkisid laulu- ja näiteseltsid, mis tõid külarahva kokku.\n"
 "Selle aja üks tähtsamaid sündmusi oli esimene üldlaulupidu Tartus, kuhu kogunes lauljaid üle kogu maa. Paljude jaoks oli see esimene kord tunda, et nende keel ja laulud väärivad avalikku esitamist ja austust.\n"
 "Ajaloolased rõhutavad, et ärkamisaja liikumine polnud ühtne. Selle juhtide vahel tekkisid teravad vaidlused, kuidas suhelda baltisaksa mõisnike ja vene võimudega, kuid just need arutelud kujundasid hiljem ka iseseisva riigi poliitilist mõtlemist."),
("rattateede-kava", "transport", "2024-06-24",
 "Tallinna linnavalitsus tutvustas uut jalgrattateede võrgustiku kava, mille järgi peaks kümne aasta jooksul tekkima ühtne ühendus kõigi linnaosade vahel. Praegu katkevad paljud rattateed ootamatult ristmike juures ja ratturid peavad liiklema kas kõnniteel või autode vahel. Uued teed eraldatakse sõiduteest äärekivi või haljasribaga.\n"
 "Autojuhtide esindajad kardavad, et sõiduridade vähendamine suurendab ummikuid. Linnaplaneerijad vastavad, et mugavad ja ohutud rattateed aitavad just vähendada autoliiklust, sest osa inimesi otsustab lühikesed sõidud teha rattaga.\n"
 "Kava avalik arutelu kestab kuu aega ning iga elanik saab oma ettepanekuid esitada linna veebilehel. Esimesena kavatsetakse ehitada ühendus Mustamäelt kesklinna, kuna seal liigub hommikuti kõige rohkem rattureid."),
# --- more regular documents ---
("seenehooaeg", "nature", "2024-09-05",
 "Seenehooaeg on tänavu alanud tavapärasest varem, sest augusti teisel poolel sadas palju vihma ja ööd olid soojad. Metsades leidub rohkelt kukeseeni ja puravikke, mõnel pool ka riisikaid. Kogenud seenelised soovitavad minna metsa varahommikul, enne kui teised korjajad parimad kohad läbi käivad.\n"
 "Mürgistusteabekeskus tuletab meelde, et korjata tuleks ainult neid seeni, mida tuntakse kindlalt. Kahtluse korral on parem seen metsa jätta, sest mõned mürgised liigid sarnanevad söödavatega eksitavalt ja võivad põhjustada raske tervisekahjustuse."),
("suitsusaun", "culture", None,
 "Suitsusaun on osa Võrumaa kultuuripärandist, mis on kantud ka UNESCO vaimse kultuuripärandi nimekirja. Erinevalt tavalisest saunast puudub sellel korsten ja suits väljub läbi ukse või väikese luugi. Kütmine võtab mitu tundi ning leili tohib visata alles siis, kui suits on täielikult välja lastud.\n"
 "Saunaga on seotud palju kombeid ja uskumusi. Vanasti peeti saunas sünnitusi, raviti haigeid ja valmistati linnaseid. Tänapäeval korraldavad mitmed talud külastajatele saunaõhtuid, kus saab kuulda lugusid ja proovida viha tegemist."),
("talverehvid", "transport", "2024-10-28",
 "Talverehvide kasutamine on Eestis kohustuslik detsembrist veebruari lõpuni, kuid ilmaolud võivad nõuda vahetust varem. Naastrehvidega tohib sõita alates oktoobri keskpaigast, kui teed muutuvad libedaks. Rehvitöökojad soovitavad aja broneerida aegsasti, sest esimese lume ajal tekivad pikad järjekorrad.\n"
 "Lisaks rehvidele tasub üle vaadata klaasipesuvedelik, akud ja tuled. Autosse võiks alati jätta ka sooja teki, taskulambi ja väikese labida juhuks, kui tuleb lumetormis teeserval abi oodata."),
("e-valimised", "local-government", "2025-10-06",
 "Kohalike omavalitsuste valimistel saab hääletada ka elektrooniliselt, kasutades ID-kaarti, mobiil-ID-d või Smart-ID-d. E-hääletamine kestab kuus päeva ja selle aja jooksul võib valija oma otsust muuta, sest arvesse läheb ainult viimane antud hääl. Valimispäeval jaoskonnas antud paberhääl tühistab varasema e-hääle.\n"
 "Valimiskomisjon kutsub kõiki hääletama, sest just kohalik võim otsustab paljusid igapäevaelu küsimusi, alates teede hooldusest ja lõpetades lasteaiakohtadega. Valimisnimekirjad ja kandidaatide andmed on avaldatud komisjoni kodulehel."),
("leitud-rahakott", "forum", "2024-07-11",
 "Leidsin eile õhtul Kalamaja pargist pingi alt rahakoti, milles oli ID-kaart, pangakaart ja mõned kinkekaardid. Kaardi järgi kuulub see Kadri Saarele, isikukood 48805170276. Proovisin teda sotsiaalmeedias otsida, aga sama nimega inimesi on mitu ja keegi pole vastanud.\n"
 "Viisin rahakoti täna hommikul lähimasse politseijaoskonda, nii et omanik saab selle sealt kätte. Kui keegi tunneb Kadrit, andke talle palun teada, et ta ei peaks kaarte sulgema ja saab oma asjad kiiresti tagasi."),
("noukogude-argipaev", "culture", "2024-03-01",
 "Muuseumis avati näitus, mis tutvustab nõukogudeaegset igapäevaelu tavaliste esemete kaudu. Vitriinides on triikrauad, raadiod, lastemänguasjad ja pakendid, mida paljud vanemad külastajad mäletavad oma lapsepõlvest. Iga eseme juures on lühike lugu inimesest, kes selle muuseumile annetas.\n"
 "Kuraatori sõnul tekitab näitus põlvkondade vahel elavaid vestlusi. Vanavanemad selgitavad lastelastele, miks tuli poes järjekorras seista ja kuidas puuduvaid asju ise valmistati. Näitus on avatud järgmise aasta kevadeni."),
("hiiumaa-film", "culture", "2024-11-09",
 "Eesti mängufilm, mis jutustab kahest vennast Hiiumaa kalurikülas, võitis rahvusvahelisel filmifestivalil publiku lemmiku auhinna. Režissöör filmis suurema osa stseenidest päris külas ning kõrvalosades astuvad üles kohalikud elanikud, kellest mitmed polnud varem kaamera ees olnud.\n"
 "Kriitikud on kiitnud filmi aeglast ja vaatlevat tempot, mis laseb tunda mere rütmi ja saare elu karmust. Kinodesse jõuab linateos järgmise kuu alguses ning hiljem on see plaanis näidata ka rahvusringhäälingus."),
("turuelu", "economy", None,
 "Jaamaturg on muutunud lemmikpaigaks nii kohalikele kui ka turistidele. Alumisel korrusel müüvad talunikud värsket liha, kala ja piimatooteid, ülemisel korrusel leiab vanavara ja käsitööd. Laupäeviti on vahekäigud nii täis, et läbi pääseb vaid aeglaselt sammudes.\n"
 "Turukaupmehed ütlevad, et ostjad hindavad üha enam kohalikku toitu ja tahavad teada, kust toode pärit on. Mitmed väiketalud müüvad kogu oma toodangu just siin ning on loonud püsikliendid, kes tulevad igal nädalal sama leti juurde."),
("talgupaev", "community", "2024-05-04",
 "Talgupäeval osales tänavu üle Eesti tuhandeid inimesi, kes koristasid metsaaluseid, värvisid külaplatside pinke ja korrastasid kalmistuid. Talgute mõte on ühendada kogukonda ja teha üheskoos ära töid, mis üksi tunduksid liiga suured.\n"
 "Ühe Järvamaa küla elanikud ehitasid päevaga valmis laste mänguväljaku, mille materjalid olid annetanud kohalikud ettevõtjad. Õhtul keedeti katlas suppi ja lapsed said esimestena uusi kiikesid proovida, mis tegi kõigi tuju heaks."),
("suitsuandur", "safety", "2024-10-14",
 "Päästeamet tuletab meelde, et iga kodu peab olema varustatud töökorras suitsuanduriga. Kütteperioodi alguses juhtub kõige rohkem tulekahjusid, mille põhjuseks on sageli puhastamata korsten või hooletult kasutatud küünlad. Andur tuleks paigaldada lakke ja selle patareid kord kuus üle kontrollida.\n"
 "Eramajade omanikel soovitatakse lasta korstnapühkijal küttekolded enne talve üle vaadata. Samuti on tark hoida kodus väikest kustutit või tulekustutustekki, millega saab köögis alguse saanud põlengu kiiresti summutada."),
("laste-hambad", "health", "2024-02-06",
 "Hambaarstid on mures, et paljud lapsed jõuavad vastuvõtule alles siis, kui hammas juba valutab. Haigekassa hüvitab alaealiste hambaravi täies ulatuses, kuid vanemad ei pruugi sellest teada või ei leia sobivat aega. Korrapärane kontroll kord aastas aitaks vältida paljusid probleeme.\n"
 "Hambahaiguste ennetamiseks tuleb hambaid pesta kaks korda päevas fluoriidiga hambapastaga ja piirata magusate jookide tarbimist. Eriti kahjulik on pidev näksimine, sest siis ei jõua sülg suus happelist keskkonda neutraliseerida."),
("lasteaiajarjekord", "local-government", "2024-08-12",
 "Tartu lasteaedade järjekord on viimastel aastatel tunduvalt lühenenud, sest linn avas kaks uut hoonet ja laiendas mitut vanemat. Lapsevanemad saavad nüüd taotluse esitada linna iseteeninduskeskkonnas ja näevad reaalajas, mitmes nende laps järjekorras on.\n"
 "Lasteaiaõpetajaid napib siiski endiselt, mistõttu mõnes rühmas töötavad asendusõpetajad. Linn pakub noortele spetsialistidele elamistoetust ning võimalust õppida töö kõrvalt, lootes nii meelitada valdkonda rohkem inimesi. Lisaks tõstetakse järgmisest aastast õpetajate palka."),
("meesaak", "agriculture", "2024-09-16",
 "Mesinikud hindavad tänavust meesaaki keskmiseks. Kevad oli jahe ja mesilased ei saanud õitsvatel viljapuudel piisavalt lennata, kuid pärnade ja tatra õitsemise ajal oli ilm soodne. Paljudes mesilates jäid pered tugevaks ning talvituma läheb terveid ja elujõulisi peresid.\n"
 "Mesinike seltsi esimees soovitab tarbijatel osta mett otse tootjalt või kohalikult laadalt. Nii saab olla kindel toote päritolus ja toetada väiketootjaid, kelle tööd ohustavad nii haigused kui ka odav imporditud mesi."),
("vaikepruulikojad", "economy", None,
 "Väikepruulikodade arv on Eestis viimase kümne aastaga mitmekordistunud. Pruulijad katsetavad julgelt, kasutades kadakamarju, rabarberit või isegi kuuseokkaid, et anda õllele kohalikku iseloomu. Mitmed neist on võitnud auhindu ka rahvusvahelistel konkurssidel.\n"
 "Ometi on ettevõtjate sõnul elu keeruline, sest aktsiisimäärad on tõusnud ja turg on väike. Paljud on seepärast hakanud korraldama pruulikoja külastusi ja degusteerimisi, mis toovad lisatulu ja aitavad külastajatel õlletegemise protsessi paremini mõista."),
("jalgpall-hooaja-lopp", "sport", "2024-11-11",
 "Jalgpalli meistriliiga hooaeg lõppes põneva viimase vooruga, kus tiitel selgus alles lisaminutitel. Liidermeeskond jäi kaotusseisu, kuid viigistas vahetult enne lõpuvilet nurgalöögist saadud väravaga. Tribüünidel puhkes rõõmujoovastus ja mängijad jooksid fännide juurde tänama.\n"
 "Treeneri sõnul näitas hooaeg, et kodune liiga muutub tasapisi tugevamaks ja noored mängijad saavad järjest rohkem võimalusi. Mitu meeskonna põhimängijat on juba äratanud välisklubide huvi. Uus hooaeg algab taas varakevadel, kui staadionidelt on lumi sulanud."),
("maleturniir", "sport", "2024-01-22",
 "Malelegendi mälestusturniiril osales tänavu ligi sada mängijat kaheteistkümnest riigist. Turniir peeti kiirmale formaadis, mis tähendab, et igal mängijal oli partii peale vaid viisteist minutit. Pingelised hetked ajahädas pakkusid pealtvaatajatele palju elevust.\n"
 "Parimaks eestlaseks tuli noor Tallinna maletaja, kes alistas kahel korral endast tunduvalt kõrgema reitinguga vastase. Maleliidu esindajad märkisid rõõmuga, et noorte huvi male vastu on viimastel aastatel märgatavalt kasvanud. Järgmine turniir peetakse juba kevadel Pärnus."),
("eesti-keele-kursused", "education", "2024-09-26",
 "Eesti keele kursustele on tänavu registreerunud rohkem täiskasvanuid kui kunagi varem. Paljud õppijad on hiljuti Eestisse kolinud ja soovivad keelt osata, et tööl ja igapäevaelus paremini hakkama saada. Eriti populaarsed on vestlusklubid, kus harjutatakse rääkimist vabas õhkkonnas.\n"
 "Õpetajate sõnul on eesti keele suurim raskus käänete rohkus, kuid hääldus tuleb enamikul õppijatel kiiresti. Nad soovitavad lisaks tundidele vaadata eestikeelseid saateid subtiitritega ja julgelt poes või kohvikus eesti keeles suhelda."),
("paikesepaneelid", "energy", "2024-04-16",
 "Üha rohkem eramajade omanikke paigaldab katusele päikesepaneele, et vähendada elektriarvet. Hästi suunatud süsteem suudab suvel toota rohkem energiat, kui majapidamine ise kasutab, ning ülejäägi saab müüa võrku. Talvel on toodang aga väike ja elektrit tuleb siiski juurde osta.\n"
 "Energiaeksperdid soovitavad enne investeeringut hoolikalt arvutada tasuvusaega. Oluline on katuse seisukord ja kalle, samuti see, kas lähedal kasvavad kõrged puud heidavad paneelidele varju. Mõnel juhul võib olla mõistlik kombineerida paneelid salvestusakuga."),
("e-raamatud", "culture", None,
 "Rahvaraamatukogud pakuvad lugejatele võimalust laenutada e-raamatuid otse oma nutiseadmesse. Valikus on nii eesti ilukirjandus kui ka tõlketeosed ning populaarsematele raamatutele tuleb vahel järjekorda panna. Laenutusaeg on kolm nädalat, pärast mida raamat kaob seadmest automaatselt.\n"
 "Raamatukoguhoidjad märgivad, et e-laenutus on eriti meeldinud neile, kes elavad raamatukogust kaugel või kellel on raske liikuda. Kasutamiseks on vaja vaid raamatukogu lugejakaarti ja rakendust, mille seadistamisel aitavad töötajad hea meelega."),
("virmalised", "science", "2024-05-11",
 "Eelmisel ööl võis suuremas osas Eestis näha virmalisi, mis värvisid põhjataeva roheliseks ja lillaks. Teadlaste sõnul põhjustas nähtuse tugev päikesetorm, mille osakesed jõudsid Maa magnetvälja ootamatult kiiresti. Sotsiaalmeedia täitus peagi fotodega, mida inimesed olid teinud kodu õuest või põllu servast.\n"
 "Astronoomid soovitavad virmaliste vaatlemiseks sõita linnatuledest eemale ja vaadata põhja suunas. Kõige paremini jäävad need pildile, kui kaamera on statiivil ja säriaeg mõne sekundi pikkune."),
("lastelaagrid", "education", "2024-03-12",
 "Suvised lastelaagrid täituvad igal aastal kiiresti ning paljud vanemad broneerivad kohad juba talvel. Pakkumisi on väga erinevaid: spordilaagrid, loodusretked, teaduse ja robootika töötoad ning keelelaagrid. Hinnad kõiguvad tunduvalt olenevalt laagri pikkusest ja sellest, kas lapsed ööbivad kohapeal.\n"
 "Lastekaitsjad soovitavad enne broneerimist uurida, kas laagri korraldajal on olemas noortelaagri tegevusluba ja kas kasvatajad on läbinud esmaabikoolituse. Hea laager annab lapsele iseseisvuse kogemuse ja uusi sõpru."),
("paevakeskus-eakad", "community", "2024-02-27",
 "Pensionäride päevakeskus pakub eakatele igal nädalal mitmesuguseid tegevusi alates võimlemisest kuni arvutikoolitusteni. Eriti suur huvi on olnud kursuse vastu, kus õpetatakse nutitelefoniga videokõnesid tegema, et lastelaste ja kaugel elavate sugulastega sidet pidada.\n"
 "Keskuse juhataja sõnul on üksildus vanemas eas suur probleem ja ühised tegevused aitavad sellega toime tulla. Paljud külastajad on leidnud keskusest uusi sõpru, kellega koos käiakse ka teatris ja kontsertidel."),
("tark-kodu", "tech", "2024-12-09",
 "Targa kodu seadmed muutuvad üha odavamaks ja lihtsamini seadistatavaks. Nutipistikute ja termostaatide abil saab kütet ja valgustust juhtida telefonist ka siis, kui oled kodust eemal. Õigesti seadistatud süsteem aitab säästa energiat, lülitades näiteks põrandakütte välja ajal, mil kedagi kodus pole.\n"
 "Küberturvalisuse spetsialistid hoiatavad siiski, et paljud odavad seadmed saadavad andmeid tundmatutesse serveritesse. Enne ostmist tasub uurida tootja mainet ja vahetada kindlasti ära seadme vaikeparool."),
("petukirjad", "safety", "2024-06-10",
 "Pangad hoiatavad klientide poole suunatud petukirjade eest, mis näevad välja nagu ametlikud teated. Kirjas väidetakse, et konto on blokeeritud ja selle avamiseks tuleb kinnitada isikuandmed lingil klõpsates. Viimasel nädalal saadeti selliseid kirju aadressilt turvateenus@pank-kinnitus.example, mis meenutab pealtnäha päris panga aadressi.\n"
 "Pank ei küsi kunagi e-posti teel PIN-koode ega paroole. Kui olete juba oma andmed sisestanud, võtke kohe ühendust panga klienditoega ja laske kaardid sulgeda. Kahtlastest kirjadest tasub teavitada ka politseid."),
("ujumisohutus", "safety", "2024-07-08",
 "Kuumade ilmadega suureneb uppumisõnnetuste arv, mistõttu tuletavad päästjad meelde ohutusreegleid. Kõige sagedamini hukkuvad vees keskealised mehed, kes on enne ujumist alkoholi tarvitanud. Lapsi ei tohi ühelgi hetkel jätta veekogu äärde järelevalveta, isegi kui vesi on madal.\n"
 "Avaveekogudes tasub ujuda ainult tuttavates kohtades ja mitte hüpata vette tundmatu põhjaga paigas. Kui satud hoovusesse, ära uju vastuvoolu, vaid liigu kaldaga paralleelselt, kuni hoovus nõrgeneb."),
("talumaja-restaureerimine", "housing", None,
 "Vana talumaja restaureerimine nõuab kannatlikkust ja teadmisi traditsioonilistest ehitusvõtetest. Muinsuskaitsjad soovitavad säilitada võimalikult palju originaalseid detaile, nagu puitaknad, uksed ja ahjud, sest neid on hiljem väga raske taastada. Palkseinte soojustamisel tuleb valida hingavad materjalid, et puit ei hakkaks mädanema.\n"
 "Mitmed omanikud on leidnud abi vabaühendustest, mis korraldavad praktilisi koolitusi, kus õpitakse näiteks lubikrohvi segamist ja pilliroost katuse tegemist. Nii kandub vana meistrioskus edasi uuele põlvkonnale."),
("supilinna-pagar", "food", "2024-04-29",
 "Tartu Supilinnas avas uksed väike pagaripood, mis küpsetab leiba vanade retseptide järgi. Juuretis on perekonnas põlvest põlve edasi antud ja pagar väidab, et see on vähemalt sada aastat vana. Igal hommikul valmivad ahjust rukkileivad, saiakesed ja kaneelirullid.\n"
 "Naabrid on uue poe omaks võtnud ja hommikuti tekib ukse taha lühike järjekord. Omanik loodab tulevikus pakkuda ka leivaküpsetamise töötubasid, kus huvilised saavad selgeks juuretise hoidmise ja taigna sõtkumise."),
("loodusfoto-voistlus", "nature", "2024-12-16",
 "Loodusfoto võistlusele laekus tänavu üle kolme tuhande pildi, mis jäädvustasid Eesti metsade, soode ja ranniku elu. Žürii valis võitjaks foto, millel rebane hüppab lumisel põllul hiire järele. Pildistaja veetis selle kaadri saamiseks mitu hommikut varjes külmas tuules.\n"
 "Noorte kategoorias tunnustati kaheteistaastast poissi, kes pildistas kodu lähedal tiigi ääres kiililisi. Parimad fotod pannakse välja botaanikaaia näitusel ja hiljem rändavad need mööda maakondade raamatukogusid."),
("elektri-borsihind", "energy", "2024-01-08",
 "Elektri börsihind kõikus eelmisel nädalal tavapärasest rohkem, sest tuulevaikse ilmaga jäi tuuleparkide toodang väikeseks. Mõnel õhtutunnil tõusis hind mitmekordseks, samas kui öösiti oli elekter peaaegu tasuta. Börsipaketiga tarbijad said kokku hoida, kui nihutasid pesumasina ja nõudepesumasina kasutamise öisele ajale.\n"
 "Energiaeksperdid soovitavad leibkondadel, kes ei soovi hinnakõikumisi jälgida, kaaluda fikseeritud hinnaga lepingut. Selle hind on küll keskmiselt veidi kõrgem, kuid annab kindlustunde eelarve planeerimisel."),
("tantsurühma-juubel", "culture", "2024-10-07",
 "Rahvatantsurühm tähistas oma viiekümnendat sünnipäeva suure juubelikontserdiga. Laval astusid üles nii praegused tantsijad kui ka endised liikmed, kellest vanim oli rühmas tantsinud juba esimestel aastatel. Publik sai näha traditsioonilisi tantse ja uusi seadeid, mis ühendavad rahvatantsu kaasaegse liikumisega.\n"
 "Rühmajuhi sõnul on tantsu juures kõige tähtsam ühtsustunne. Proovides on kohtunud paarid, sündinud sõprussuhted ja mitmed endiste tantsijate lapsed tantsivad nüüd samas rühmas edasi."),
("peipsi-jaapuuk", "nature", "2024-02-02",
 "Peipsi järve talvine kalapüük meelitab igal aastal jääle tuhandeid õngitsejaid. Enne jääle minekut tuleb kindlasti kontrollida jää paksust, sest tugev tuul võib jääd murda ka siis, kui see tundub kindel. Päästjad on sel talvel juba mitu korda päästnud triiviva jäätüki peale jäänud kalamehi.\n"
 "Kogenud kalurid soovitavad kaasa võtta jäänaasklid, päästevesti ja täielikult laetud telefoni. Samuti tasub teatada lähedastele, kuhu minnakse ja millal kavatsetakse tagasi tulla."),
("kiriku-maalingud", "history", "2024-08-22",
 "Keskaegse külakiriku restaureerimistööde käigus avastati seinalt varem tundmatud maalingud. Krohvikihi alt tulid nähtavale pühakute kujutised ja taimeornamendid, mis võivad pärineda viieteistkümnendast sajandist. Restauraatorid puhastavad maalinguid ettevaatlikult, et värvikiht ei kahjustuks.\n"
 "Koguduse õpetaja sõnul on leid kogu piirkonnale suur üllatus ja rõõm. Kirik on restaureerimise ajal suletud, kuid sügisel on plaanis korraldada avatud uste päev, kus huvilised saavad maalinguid oma silmaga näha. Tööde rahastamiseks korjatakse annetusi ka kohalikus poes."),
("kihnu-saar", "travel", None,
 "Kihnu saar on tuntud oma elava kultuuri poolest, mida hoitakse igapäevaelus alal ka praegu. Naised kannavad triibulisi seelikuid mitte ainult pidupäevadel, vaid ka poodi või kirikusse minnes. Suvel saab saarel sõita mootorratta külghaagisel koos kohaliku giidiga, kes räägib saare ajaloost.\n"
 "Turistidel palutakse austada saarlaste privaatsust ja mitte pildistada inimesi ilma loata. Saarele pääseb praamiga Munalaiu sadamast ning ööbimiskohad tasub broneerida varakult, sest neid on vähe."),
("tasakaalustatud-toit", "health", None,
 "Toitumisnõustajad rõhutavad, et tasakaalustatud menüü ei pea olema kallis ega keeruline. Hooajalised köögiviljad, nagu kapsas, porgand ja peet, on soodsad ning sisaldavad palju vitamiine ja kiudaineid. Teraviljadest tasub eelistada täisterapuderit ja rukkileiba, mis annavad pikaks ajaks kõhutäie.\n"
 "Suurimaks probleemiks peetakse aga suhkrurikkaid jooke ja töödeldud toitu. Nende asemel võiks janu kustutada veega ja vahepaladeks valida pähkleid, puuvilju või kohupiima. Väikesed muutused harjumustes annavad pikas plaanis suure tulemuse."),
("maantee-remont", "transport", "2024-06-06",
 "Transpordiamet alustas suvel ühe põhimaantee lõigu rekonstrueerimist, mille käigus ehitatakse teele neli sõidurada. Tööde ajaks on liiklus suunatud ajutisele teele ja kiirus piiratud seitsmekümne kilomeetrini tunnis. Tipptunnil võib tekkida ummikuid, eriti reede õhtuti ja pühapäeva pärastlõunal.\n"
 "Ehitustööd peaksid lõppema järgmise aasta sügisel. Valmis tee muudab sõidu ohutumaks, sest vastassuunavööndid eraldatakse piirdega ja kaovad ohtlikud möödasõidud, mis on seni põhjustanud mitmeid raskeid õnnetusi. Ajakohast infot ümbersõitude kohta saab ameti kodulehelt."),
("mangustuudio", "tech", "2024-11-26",
 "Eesti mänguarendajad on viimastel aastatel jõudnud rahvusvahelisele areenile. Üks väike Tartu stuudio avaldas seiklusmängu, mille tegevus toimub müütilises Eesti metsas ning tegelasteks on rahvapärimusest tuntud olendid. Mäng kogus esimese nädalaga kümneid tuhandeid mängijaid üle maailma.\n"
 "Arendajate sõnul oli neile tähtis tutvustada välismaa mängijatele eesti kultuuri. Muusika salvestati koos pärimusmuusikutega ja mängus kõlavad ka regilaulud. Järgmisena plaanitakse mängu tõlkida veel mitmesse keelde. Stuudio otsib praegu ka uusi kunstnikke."),
("kliimaseadus", "politics", "2024-12-12",
 "Riigikogus arutati kliimaseaduse eelnõu, mille eesmärk on vähendada kasvuhoonegaaside heidet ja seada sihid kuni sajandi keskpaigani. Eelnõu näeb ette, et iga valdkond, alates energeetikast ja lõpetades põllumajandusega, peab koostama oma vähendamise kava.\n"
 "Ettevõtjate ühendused hoiatavad, et liiga kiire tempo võib kahjustada konkurentsivõimet. Keskkonnaorganisatsioonid leiavad vastupidi, et eelnõu on liiga leebe ega vasta teaduslikele soovitustele. Lõplik versioon peaks valmima pärast täiendavaid arutelusid. Seadus võib jõustuda juba paari aasta pärast."),
("viljandi-kohvik", "food", None,
 "Viljandi kesklinnas tegutsev väike kohvik on saanud tuntuks oma isetehtud koogide ja sõbraliku teeninduse poolest. Omanikud on noor paar, kes kolis pealinnast maale, sest soovis elada rahulikumalt ja olla oma ettevõtte peremees. Menüüs on iga päev erinev supp ja vähemalt kolm sorti kooke.\n"
 "Suviti pannakse lauad välja tänavale ning kohvikus esinevad sageli pärimusmuusika festivali muusikud. Talvel on külastajaid vähem, kuid püsikliendid käivad edasi ja omanikud kasutavad vaiksemat aega uute retseptide katsetamiseks."),
("vaatlusohtud", "science", "2024-09-30",
 "Observatooriumis korraldatakse sügisel avalikke vaatlusõhtuid, kus huvilised saavad teleskoobiga vaadata Kuud, planeete ja kaugeid täheparvi. Enne vaatlust räägivad astronoomid lühidalt sellest, mida taevas parajasti näha on ja kuidas tähti ära tunda.\n"
 "Vaatlusõhtud toimuvad ainult selge ilmaga, mistõttu tasub päeva jooksul jälgida observatooriumi teateid. Soe riietus on hädavajalik, sest sügisöödel võib temperatuur langeda nulli lähedale ja vaatlusplatsil seistakse tunde. Lastele on ette nähtud eraldi lühem programm."),
("raudteemuuseum", "travel", "2024-05-20",
 "Raudteemuuseumis saab sõita kitsarööpmelise rongiga, mis kunagi vedas turvast rabadest tehastesse. Muuseumi vabatahtlikud on taastanud mitu vana vedurit ja vagunit ning hoiavad neid töökorras oma vabast ajast. Lastele pakub eriti elevust võimalus istuda vedurijuhi kabiinis.\n"
 "Muuseum on avatud maist septembrini ja sõidud toimuvad nädalavahetustel. Korraldajad kutsuvad kõiki raudteehuvilisi ühinema, sest tööd jagub alati, olgu see rööbaste parandamine või vagunite värvimine. Sügisel toimub muuseumis ka traditsiooniline raudteepäev."),
]
# fmt: on

# (slug, text) -- other languages; LID should drop all of them for language="et".
# fmt: off
EN_DOCS = [
("harbour-bike-lanes",
 "The harbour district will get a continuous protected bike lane by the end of next summer, the city transport office confirmed on Tuesday. Cyclists currently have to merge with delivery trucks near the ferry terminal, which residents have called the most dangerous stretch in town.\n"
 "Construction will happen in three phases to keep at least one lane open for cars. Local shop owners worry about losing parking spaces, but planners say a survey showed most of their customers arrive on foot or by bus."),
("sourdough-starter",
 "Keeping a sourdough starter alive is easier than most people think. Feed it equal weights of flour and water once a day if it lives on the counter, or once a week if you keep it in the fridge. A healthy starter smells pleasantly sour and doubles in size within a few hours of feeding.\n"
 "If a grey liquid collects on top, simply pour it off and feed the starter as usual. It only means the yeast is hungry."),
("laptop-review",
 "After three weeks with the new ultralight laptop, the keyboard is the part I like most. The keys have a surprising amount of travel for such a thin machine, and typing long documents never felt tiring. Battery life is good rather than great: expect about nine hours of mixed use with the screen at medium brightness.\n"
 "The speakers are weak and the webcam struggles in dim rooms, so people who spend their days in video calls should look elsewhere."),
("coastal-hiking",
 "The coastal trail between the two fishing villages takes about five hours at a relaxed pace. Most of the path follows the top of low limestone cliffs, with wooden stairs leading down to small pebble beaches where you can stop for lunch.\n"
 "There is no drinking water along the way, so bring at least two litres per person. In late spring the meadows above the cliffs are full of orchids, and seals are often seen resting on the rocks offshore."),
("youth-football",
 "The under-fifteen team finished the regional season unbeaten after a tense final match that was decided by a single goal in the last minute. The coach praised the players for staying calm when the opponents pressed hard in the second half.\n"
 "Parents organised a small celebration at the club house afterwards. Several players have been invited to a national training camp this winter, which the club sees as proof that its focus on technical skills is paying off."),
("sleep-and-screens",
 "Researchers followed more than two thousand teenagers for a year and found that those who used their phones in bed slept on average forty minutes less than their peers. The effect was strongest on school nights and among students who used social media rather than reading or listening to music.\n"
 "The authors suggest that families agree on a simple rule, such as charging all phones outside the bedroom, instead of trying to limit screen time during the whole day."),
("tomato-blight",
 "Late blight has appeared early this year in many allotments, helped by the warm and humid weather. The first signs are brown patches on the leaves that spread quickly to the stems and fruit. Infected plants should be removed and put in the household waste, not on the compost heap.\n"
 "Growing tomatoes under cover and watering at the base instead of over the leaves reduces the risk considerably. Some newer varieties also show good resistance."),
("household-budget",
 "Keeping a household budget does not require special software. Many people find it enough to write down every expense for one month and then group the items into a few categories such as housing, food, transport and leisure. The results are often surprising, especially for small daily purchases.\n"
 "Once you know where the money goes, set a realistic limit for each category and review it at the end of every month. Adjust the plan rather than giving up when you overspend."),
("book-review-lighthouse",
 "The novel follows a retired lighthouse keeper who returns to the island where he worked for thirty years, only to find the lighthouse converted into a boutique hotel. What could have been a simple story of nostalgia becomes a quiet reflection on memory, work and the people we leave behind.\n"
 "The prose is spare and precise, and the author resists easy sentimentality. Readers who enjoy slow, character-driven fiction will find a great deal to admire here."),
("museum-night",
 "On Saturday more than forty museums across the country will stay open until midnight as part of the annual museum night. Entry is free, and many venues have prepared special tours, concerts and workshops for children. This year's theme is light and darkness, so expect candlelit galleries and shadow theatre performances.\n"
 "Organisers recommend planning a route in advance, as the most popular museums usually have queues after nine in the evening."),
("heat-pump-guide",
 "Air-to-water heat pumps have become a common choice for families replacing old oil boilers. They work best in well-insulated houses with underfloor heating, because they deliver heat most efficiently at low water temperatures. In very cold weather their efficiency drops, and a backup heater may be needed.\n"
 "Before buying, ask an installer to calculate the heat loss of your house. A pump that is too large will switch on and off frequently and wear out sooner."),
("river-cleanup",
 "Volunteers removed almost two tonnes of rubbish from the riverbanks during last weekend's clean-up day. Besides the usual plastic bottles and bags, they found several shopping trolleys, a bicycle frame and even an old refrigerator that had to be pulled out with a tractor.\n"
 "The local angling club, which organised the event, plans to repeat it every spring. Members say the river has become noticeably cleaner over the past decade, and trout have returned to its upper reaches."),
("remote-work",
 "Working from home two or three days a week has become normal for many office employees, but managers are still looking for the right balance. Surveys show that people value the time saved on commuting, while younger staff in particular miss learning from colleagues in person.\n"
 "Some companies now ask teams to agree on shared office days, so that meetings and informal conversations happen when everyone is present. Quiet tasks that need concentration are left for home."),
("film-festival",
 "The documentary about a small village choir won the audience award at this year's film festival. The director spent two years following the singers as they prepared for a national competition, capturing rehearsals, arguments and friendships along the way.\n"
 "Critics praised the film for its warmth and humour, and for treating amateur music with real respect. It will open in cinemas next month and later be shown on public television."),
("medieval-town",
 "The old town grew up around a castle built by merchants and knights in the thirteenth century. Its narrow streets still follow the medieval plan, and many houses have kept their steep gables and vaulted cellars. The town wall once had more than forty towers, about half of which survive today.\n"
 "Guided walks start every afternoon from the main square and last about ninety minutes. Comfortable shoes are a good idea, as the cobblestones are uneven."),
("dog-training",
 "Puppies learn fastest in short, frequent sessions. Five minutes of training several times a day works better than one long lesson, and every session should end while the dog is still keen. Reward the behaviour you want immediately, with a small treat or a favourite toy, so that the puppy understands what earned the reward.\n"
 "Avoid punishment. It makes dogs anxious and often teaches them to hide unwanted behaviour rather than to stop it."),
("storm-warning",
 "Forecasters have issued a storm warning for the western coast, where gusts of up to twenty-five metres per second are expected on Thursday night. Ferry services may be cancelled, and drivers are advised to avoid unnecessary trips on exposed coastal roads.\n"
 "Residents should secure garden furniture and trampolines and keep torches and phone chargers ready in case of power cuts. The wind is expected to ease by Friday afternoon."),
("coding-club",
 "The library's free coding club for children aged nine to twelve starts again in September. Over ten weeks, participants build simple games and animations, learning basic programming ideas such as loops, conditions and variables along the way. No previous experience is needed, and laptops are provided.\n"
 "Places are limited to sixteen children per group, so parents are encouraged to register early through the library website or at the front desk."),
("housing-market",
 "House prices in the suburbs rose slightly over the summer, while prices in the city centre remained flat. Estate agents say that families are looking for more space and gardens, and are willing to accept a longer commute in exchange.\n"
 "Higher interest rates have made many buyers more cautious, however. Banks report that loan applications are taking longer to process, as borrowers compare offers and negotiate harder than they did a few years ago."),
("meteor-shower",
 "This week offers a good chance to see the annual meteor shower, which peaks on Wednesday night. Under a dark sky, observers may count up to sixty meteors per hour. The moon sets early, so conditions should be favourable if the clouds stay away.\n"
 "No telescope is needed. Find a spot away from street lights, let your eyes adjust to the darkness for twenty minutes and look towards the north-east."),
]

FI_DOCS = [
("kirjasto-remontti",
 "Kaupungin pääkirjasto suljetaan kesäkuun alussa puoleksi vuodeksi remontin ajaksi. Rakennukseen uusitaan ilmanvaihto ja lastenosasto siirretään katutasoon, jotta sinne pääsee helpommin lastenvaunujen kanssa. Remontin aikana lainaustoimintaa jatketaan väliaikaisissa tiloissa kauppakeskuksen toisessa kerroksessa.\n"
 "Kirjastonjohtajan mukaan uudistettu kirjasto tarjoaa entistä enemmän tilaa opiskelijoille ja hiljaiselle työskentelylle."),
("mustikkasato",
 "Tämän kesän mustikkasato näyttää paikoin erittäin runsaalta, sillä kukinnan aikaan ei ollut hallaöitä. Parhaat marjapaikat löytyvät kuusivaltaisista metsistä, joissa on sopivasti valoa. Marjastajat kannattaa muistaa, että jokamiehenoikeus sallii marjojen poiminnan, mutta pihapiireissä pitää kunnioittaa asukkaiden rauhaa.\n"
 "Kerätyt marjat säilyvät parhaiten, kun ne pakastetaan mahdollisimman pian poiminnan jälkeen."),
("jaakiekko-voitto",
 "Kotijoukkue kaatoi sarjan kärkiseuran jatkoajalla ja nousi taulukossa pudotuspelipaikalle. Ottelu oli tasainen alusta loppuun, ja molemmat maalivahdit torjuivat useita vaikeita laukauksia. Ratkaisumaali syntyi ylivoimalla, kun nuori hyökkääjä ohjasi kiekon taitavasti verkkoon.\n"
 "Valmentaja kiitti joukkuetta sitkeydestä ja muistutti, että runkosarjaa on vielä jäljellä kymmenen ottelua."),
("saunan-lammitys",
 "Puulämmitteisen saunan kiuas kannattaa lämmittää kuivilla koivuhalkoilla, jotka palavat tasaisesti ja tuottavat vähän nokea. Kiukaan kivet on hyvä latoa väljästi, jotta ilma pääsee kiertämään ja löyly on pehmeää. Kivet tulisi vaihtaa muutaman vuoden välein, koska ne murenevat kuumuudessa.\n"
 "Ennen saunomista kannattaa juoda vettä ja välttää alkoholia, joka lisää kuumuuden rasitusta sydämelle."),
("etatyo-kysely",
 "Tuoreen kyselyn mukaan yli puolet toimistotyöntekijöistä tekee osan viikosta töitä kotoa käsin. Vastaajat arvostavat erityisesti sitä, että työmatkoihin kuluu vähemmän aikaa ja arkea on helpompi sovittaa yhteen perheen kanssa. Toisaalta moni kaipaa työpaikan yhteisöllisyyttä ja spontaaneja keskusteluja kollegoiden kanssa.\n"
 "Tutkijoiden mukaan toimivin malli sovitaan yhdessä tiimin kanssa."),
("kalastus-luvat",
 "Vapakalastusmaksu on maksettava, jos kalastaa vieheellä ja on täyttänyt kahdeksantoista vuotta. Onkiminen ja pilkkiminen ovat kuitenkin jokamiehenoikeuksia useimmissa vesissä. Maksun voi hoitaa verkossa muutamassa minuutissa, ja tulot käytetään kalakantojen hoitoon.\n"
 "Kalastajien kannattaa tarkistaa myös alueelliset rauhoitusajat ja alamitat, sillä ne vaihtelevat vesistöittäin. Erityisesti vaelluskalojen suojelusta on tullut uusia määräyksiä viime vuosina."),
("kevatsiivous",
 "Taloyhtiön kevätsiivous järjestetään lauantaina, ja kaikki asukkaat ovat tervetulleita mukaan. Pihalta haravoidaan lehdet, hiekoitushiekka lakaistaan pois ja kukkapenkit kunnostetaan uutta kautta varten. Hallitus tarjoaa osallistujille makkaraa ja kahvia talkoiden päätteeksi.\n"
 "Lisäksi pihalle tuodaan lavat, joihin voi viedä isoja jätteitä kuten vanhoja huonekaluja. Vaarallisia jätteitä, esimerkiksi maaleja ja akkuja, ei kuitenkaan saa jättää lavoille."),
("junaliikenne-muutos",
 "Rautatieyhtiö muuttaa aikataulujaan joulukuun puolivälissä, jolloin osa aamun taajamajunista lähtee kymmenen minuuttia aiemmin. Muutoksen tavoitteena on parantaa vaihtoyhteyksiä kaukojuniin pääasemalla. Iltaisin vuoroja lisätään perjantaisin ja lauantaisin, koska matkustajamäärät ovat kasvaneet.\n"
 "Matkustajia kehotetaan tarkistamaan uudet aikataulut ennen matkaa yhtiön verkkosivuilta tai mobiilisovelluksesta."),
("korvasienet",
 "Korvasienikausi alkaa toukokuussa, ja sieniä löytyy erityisesti hakkuuaukeilta ja hiekkaisista mäntymetsistä. Korvasieni on kuitenkin raakana myrkyllinen, ja se on ennen käyttöä keitettävä kahteen kertaan runsaassa vedessä. Keittovesi on kaadettava pois ja sienet huuhdeltava huolellisesti.\n"
 "Keittämisen aikana on tärkeää tuulettaa keittiötä hyvin, koska höyryissä on haitallisia yhdisteitä."),
("nuorisotalo",
 "Kaupunginosan nuorisotalo laajentaa aukioloaikojaan syksystä alkaen, ja ovet ovat auki myös sunnuntaisin. Nuoret ovat toivoneet erityisesti bänditilaa ja paikkaa, jossa voi pelata lautapelejä ystävien kanssa. Ohjaajat järjestävät lisäksi kokkauskursseja ja retkiä lähimetsään.\n"
 "Toiminta on maksutonta, ja sitä rahoittavat kaupunki sekä paikalliset yritykset, jotka haluavat tukea nuorten harrastuksia."),
]

LV_DOCS = [
("tirgus-sestdiena",
 "Sestdienas rītā pilsētas centrālajā tirgū bija daudz pircēju, jo zemnieki atveda pirmās jaunās kartupeļu un zemeņu ražas. Pārdevēji stāsta, ka cenas šogad ir nedaudz augstākas nekā pērn, jo pavasaris bija vēss un raža nogatavojās vēlāk.\n"
 "Daudzi pircēji tomēr labprāt maksā vairāk par vietējiem produktiem, jo zina, kas tos audzējis. Tirgus vadība plāno vasarā paplašināt nojumi, lai tirgotāji un pircēji būtu pasargāti no lietus."),
("basketbols-izlase",
 "Latvijas basketbola izlase pārbaudes spēlē pārliecinoši uzvarēja Somijas komandu, otrajā puslaikā izrāvienā gūstot vairāk nekā desmit punktu pārsvaru. Treneris pēc spēles uzsvēra, ka komanda vēl strādā pie aizsardzības un jaunie spēlētāji pamazām iejūtas savās lomās.\n"
 "Nākamnedēļ izlase dosies uz turnīru ārzemēs, kur pretinieki būs daudz spēcīgāki. Līdzjutēji cer, ka komanda spēs saglabāt labo formu."),
("meza-taka",
 "Dabas parkā atklāta jauna koka laipu taka, kas ved cauri purvam līdz skatu tornim. Takas garums ir aptuveni trīs kilometri, un tās iziešanai vajadzīga apmēram stunda. Ceļā izvietoti informācijas stendi par purva augiem un putniem.\n"
 "Apmeklētāji tiek lūgti neiet nost no laipām, jo sūnas ir ļoti jutīgas pret mīdīšanu. Taka ir bez maksas un atvērta visu gadu, bet ziemā laipas var būt slidenas."),
("skolas-ediens",
 "No septembra skolēniem pusdienās piedāvās vairāk dārzeņu un pilngraudu produktu, bet saldo dzērienu vietā būs ūdens un piens. Pašvaldība skaidro, ka izmaiņas izstrādātas kopā ar uztura speciālistiem un vecāku pārstāvjiem.\n"
 "Skolu pavāri atzīst, ka sākumā bērni jaunos ēdienus pieņem piesardzīgi, tāpēc ēdienkarte tiks mainīta pakāpeniski. Vecāki var iepazīties ar nedēļas ēdienkarti skolas mājaslapā."),
("velosipedu-celi",
 "Rīgas dome apstiprinājusi plānu nākamo piecu gadu laikā izbūvēt vairāk nekā piecdesmit kilometrus jaunu veloceliņu. Pirmie posmi savienos apkaimes ar pilsētas centru, lai cilvēki varētu droši braukt uz darbu un skolu ar velosipēdu.\n"
 "Autovadītāju biedrība pauž bažas par satiksmes joslu samazināšanu, taču pilsētplānotāji uzskata, ka ērta infrastruktūra mazinās sastrēgumus. Iedzīvotāji var sniegt priekšlikumus līdz mēneša beigām."),
("laika-prognoze",
 "Sinoptiķi brīdina, ka nedēļas nogalē valstī gaidāms stiprs vējš un lietus, bet piekrastē brāzmas var sasniegt divdesmit metrus sekundē. Gaisa temperatūra dienā būs no desmit līdz četrpadsmit grādiem, naktīs vietām iespējama salna.\n"
 "Autovadītājiem ieteikts būt uzmanīgiem, jo uz ceļiem var būt nokritušie zari. Svētdienas vakarā laikapstākļi pakāpeniski uzlabosies un lietus mitēsies."),
("biblioteka-gramatas",
 "Bibliotēka aicina lasītājus piedalīties vasaras lasīšanas programmā, kurā bērni un pieaugušie var pierakstīt izlasītās grāmatas un par tām saņemt nelielas balvas. Programmas mērķis ir veicināt lasīšanas prieku arī brīvdienās, kad skolas nestrādā.\n"
 "Pagājušajā gadā dalībnieki kopā izlasīja vairāk nekā trīs tūkstošus grāmatu. Bibliotekāri palīdz izvēlēties piemērotu literatūru un iesaka jaunākās grāmatas bērniem."),
("dziesmu-svetki",
 "Gatavošanās Dziesmu un deju svētkiem rit pilnā sparā, un kori visā valstī mēģina jau vairākus mēnešus. Repertuārā ir gan tautasdziesmu apdares, gan jauni skaņdarbi, kas īpaši radīti šim notikumam.\n"
 "Organizatori sagaida desmitiem tūkstošu dalībnieku un skatītāju, tāpēc iesaka izmantot sabiedrisko transportu. Daudziem dalībniekiem svētku gājiens cauri pilsētai ir emocionālākais brīdis, ko viņi atceras visu mūžu."),
("zvejnieku-ciems",
 "Mazajā zvejnieku ciemā pie jūras vasarā ierodas daudz tūristu, kas vēlas nogaršot svaigi kūpinātas zivis. Vietējie zvejnieki joprojām katru rītu dodas jūrā ar laivām, lai gan zvejas apjomi pēdējos gados ir samazinājušies.\n"
 "Ciema iedzīvotāji ir izveidojuši nelielu muzeju, kurā var apskatīt vecus tīklus, laivas un fotogrāfijas. Muzeja vadītāja stāsta, ka vēlas saglabāt zvejniecības tradīcijas nākamajām paaudzēm."),
("energijas-cenas",
 "Elektroenerģijas cenas biržā pagājušajā nedēļā būtiski svārstījās, jo bezvēja laikā vēja parki saražoja maz enerģijas. Vakara stundās cena pieauga vairākkārt, savukārt naktīs elektrība bija ļoti lēta.\n"
 "Eksperti iesaka mājsaimniecībām, kas izvēlējušās biržas cenu, izmantot veļasmašīnu un citas lielas ierīces naktī. Tiem, kuri nevēlas sekot cenu svārstībām, labāk piemērots fiksētas cenas līgums."),
]

RU_DOCS = [
("park-rekonstrukciya",
 "В городском парке завершилась реконструкция, которая длилась почти два года. Обновили дорожки, установили новые скамейки и фонари, а также построили детскую площадку с качелями и песочницей. На берегу пруда появилась деревянная терраса, где можно отдохнуть и покормить уток.\n"
 "Жители района в целом довольны результатом, хотя некоторые жалуются, что вырубили слишком много старых деревьев. Администрация обещает весной высадить новые липы и клёны."),
("hokkey-final",
 "Местная хоккейная команда вышла в финал чемпионата, обыграв соперников в напряжённом седьмом матче серии. Решающую шайбу забросил молодой нападающий за три минуты до конца третьего периода. Болельщики встретили победу громкими аплодисментами.\n"
 "Тренер отметил, что команда проявила характер и не сдалась даже после пропущенной в начале игры шайбы. Первый матч финальной серии состоится в субботу на домашнем льду."),
("borsch-recept",
 "Чтобы приготовить настоящий борщ, сначала сварите мясной бульон на говяжьей косточке. Свёклу натрите на крупной тёрке и потушите с ложкой уксуса, чтобы она сохранила яркий цвет. Отдельно обжарьте лук и морковь, затем добавьте томатную пасту.\n"
 "В кипящий бульон положите картофель и нашинкованную капусту, а через десять минут добавьте зажарку и свёклу. Подавайте борщ со сметаной, зеленью и чёрным хлебом."),
("pogoda-zamorozki",
 "Синоптики предупреждают, что в ближайшие ночи на почве ожидаются заморозки до минус трёх градусов. Садоводам советуют укрыть рассаду плёнкой или нетканым материалом, а теплолюбивые растения пока не высаживать в открытый грунт.\n"
 "Днём будет солнечно, температура поднимется до пятнадцати градусов. К выходным погода станет теплее, и опасность заморозков, по прогнозам, минует."),
("biblioteka-kursy",
 "Городская библиотека приглашает пенсионеров на бесплатные курсы компьютерной грамотности. На занятиях расскажут, как пользоваться электронной почтой, искать информацию в интернете и безопасно совершать покупки онлайн. Особое внимание уделят защите от мошенников.\n"
 "Занятия проходят два раза в неделю в небольших группах. Записаться можно по телефону или лично в читальном зале библиотеки."),
("avtobusy-raspisanie",
 "С первого числа следующего месяца изменится расписание нескольких пригородных автобусов. Утренние рейсы будут отправляться чаще, чтобы жители посёлков успевали на работу и учёбу к началу дня. Вечером добавят последний рейс, который будет уходить из центра около полуночи.\n"
 "Новое расписание уже опубликовано на сайте перевозчика и размещено на остановках."),
("vystavka-foto",
 "В художественном музее открылась выставка старых фотографий, посвящённая жизни города в начале прошлого века. На снимках можно увидеть рынки, пристани, трамваи и жителей в праздничной одежде. Многие фотографии ранее хранились в семейных альбомах и впервые представлены публике.\n"
 "Кураторы надеются, что посетители узнают на снимках знакомые места и, возможно, своих родственников."),
("rybalka-led",
 "С наступлением морозов рыбаки выходят на лёд озера, однако спасатели напоминают об опасности. Лёд толщиной менее десяти сантиметров не выдерживает вес человека, а сильный ветер может оторвать льдину от берега. В этом сезоне спасателям уже несколько раз приходилось снимать людей с дрейфующих льдин.\n"
 "Рыбакам советуют брать с собой спасательные шипы, верёвку и заряженный телефон."),
("shkola-robototehnika",
 "В городской гимназии открылся кружок робототехники для учеников пятых и шестых классов. Ребята собирают небольших роботов, которые умеют объезжать препятствия и реагировать на свет. Занятия ведут студенты технического университета.\n"
 "Учителя отмечают, что практическая работа помогает детям лучше понимать математику и физику. Весной команда кружка планирует принять участие в региональных соревнованиях."),
("ceny-energiya",
 "Цены на электроэнергию на бирже на прошлой неделе сильно колебались, потому что в безветренную погоду ветряные станции вырабатывали мало энергии. В вечерние часы стоимость выросла в несколько раз, а ночью электричество было почти бесплатным.\n"
 "Эксперты советуют потребителям с биржевым тарифом переносить стирку и другие энергоёмкие дела на ночное время. Тем, кто не хочет следить за ценами, лучше выбрать фиксированный договор."),
]
# fmt: on

# Web pages for the WARC: (site key, path, title, date, [paragraphs]).
# The generator wraps each article in a full HTML page with header, nav, sidebar and footer.
# fmt: off
WARC_SITES = {
    "lounaleht": {"name": "Lõunaleht", "base": "https://lounaleht.example", "lang": "et",
                  "nav": ["Avaleht", "Uudised", "Sport", "Kultuur", "Arvamus", "Kontakt"],
                  "footer": "© Lõunaleht. Kõik õigused kaitstud. Toimetus: toimetus@lounaleht.example",
                  "cookie": "Kasutame küpsiseid, et parandada teie kasutajakogemust. Nõustun | Loe lähemalt"},
    "vallateataja": {"name": "Saarte Vallateataja", "base": "https://vallateataja.example", "lang": "et",
                     "nav": ["Avaleht", "Teated", "Volikogu", "Haridus", "Sotsiaalabi", "Kontakt"],
                     "footer": "Vallavalitsus, Keskväljak 1 | Avatud E–R 9–16 | Vallateataja ilmub kord kuus",
                     "cookie": "See leht kasutab küpsiseid. Sain aru"},
    "koogitarkused": {"name": "Köögitarkused", "base": "https://koogitarkused.example", "lang": "et",
                      "nav": ["Retseptid", "Koogid", "Supid", "Hoidised", "Minust"],
                      "footer": "Köögitarkused – kodune toidublogi. Retseptide kopeerimine ainult viitega.",
                      "cookie": "Küpsised aitavad meil blogi paremaks teha. Nõustun"},
    "tehnikanurk": {"name": "Tehnikanurk", "base": "https://tehnikanurk.example", "lang": "et",
                    "nav": ["Uudised", "Testid", "Nõuanded", "Foorum", "Telli uudiskiri"],
                    "footer": "Tehnikanurk | Reklaam: reklaam@tehnikanurk.example | Privaatsuspoliitika",
                    "cookie": "Küpsiste seaded | Nõustun kõigiga"},
    "northern": {"name": "Northern Notes", "base": "https://northern-notes.example", "lang": "en",
                 "nav": ["Home", "Travel", "Food", "Nature", "About", "Contact"],
                 "footer": "© Northern Notes. All rights reserved. Privacy | Terms | Newsletter",
                 "cookie": "We use cookies to improve your experience. Accept | Settings"},
}

WARC_ARTICLES = [
("lounaleht", "/uudised/2024/09/uus-tervisekeskus", "Valla uus tervisekeskus avab uksed oktoobris", "2024-09-18", [
  "Kauaoodatud tervisekeskus alevi serval on peaaegu valmis ning esimesed patsiendid saavad sinna tulla oktoobri keskel. Uues hoones töötavad kaks perearsti, füsioterapeut ja hambaarst, lisaks on ruumid apteegile.",
  "Seni pidid elanikud paljude protseduuride jaoks sõitma maakonnakeskusesse, mis võttis bussiga pool päeva. Vallavanem loodab, et keskus aitab meelitada piirkonda ka noori arste, kellele pakutakse soodsat üürikorterit samas majas.",
  "Ehitus läks maksma veidi üle kahe miljoni euro, millest suurema osa kattis Euroopa Liidu toetus. Avamispäeval toimuvad tervisekontrollid ja vererõhu mõõtmine, kuhu on oodatud kõik huvilised."]),
("lounaleht", "/sport/2024/08/kergejoustikupaev", "Noorte kergejõustikupäev tõi staadionile sadu lapsi", "2024-08-25", [
  "Laupäeval toimunud kergejõustikupäeval võistlesid lapsed jooksus, kaugushüppes ja pallivises. Korraldajate sõnul oli osalejaid ligi kaks korda rohkem kui mullu ning mõnel alal tuli startida mitmes eelsõidus.",
  "Võistluse eesmärk ei olnud ainult võita, vaid tutvustada lastele erinevaid spordialasid. Iga osaleja sai mälestuseks medali ja diplomi ning parimatele jagati kohalike ettevõtete kingitusi.",
  "Treenerid märkasid mitut andekat noort, keda kutsutakse nüüd spordikooli trennidesse. Järgmine suurem võistlus toimub talvel sisehallis, kus on kavas ka teatejooks vanematele ja lastele koos."]),
("lounaleht", "/kultuur/2024/07/kaasikul-kontsert", "Mõisapargis kõlas suveõhtul pärimusmuusika", "2024-07-20", [
  "Vana mõisa pargis peetud kontserdil esinesid kolm pärimusmuusika ansamblit, kes mängisid torupilli, kannelt ja lõõtspilli. Publik istus murul pleedidel ja mitu paari tõusis tantsima juba esimese loo ajal.",
  "Korraldaja sõnul on mõisapark ideaalne koht sellisteks üritusteks, sest vanade puude vahel on hea akustika ja õhtupäike loob erilise meeleolu. Kontserdi tulu läheb pargi hoolduseks ja uute pinkide paigaldamiseks.",
  "Järgmisel suvel loodetakse kontserdid muuta sarjaks, mis toimuks igal kuul. Huvilised saavad oma soovidest ja lemmikesinejatest teada anda kultuurimaja kaudu."]),
("lounaleht", "/arvamus/2024/10/bussiliinid", "Arvamus: maal elamine ei tohiks tähendada autosõltuvust", "2024-10-03", [
  "Kui elad külas, kust liigub buss kaks korda päevas, on auto pigem vajadus kui luksus. Kütuse hinna tõustes muutub see paljudele peredele tõsiseks koormaks ning eakad ja noored jäävad sageli koju lõksu.",
  "Nõudepõhine transport, kus väikebussi saab tellida telefoni või rakenduse kaudu, on mitmes Euroopa riigis osutunud heaks lahenduseks. Selline süsteem ei sõida tühjalt mööda graafikut, vaid viib inimesi siis, kui neil tegelikult vaja on.",
  "Meie vald võiks seda katsetada vähemalt ühe aasta, enne kui otsustame, et maapiirkondade ühistransport on lootusetu. Kulud ei pruugi olla suuremad kui praegu poolenisti tühjalt sõitvate liinibusside pidamine."]),
("lounaleht", "/uudised/2024/11/jarvekallas", "Järve kaldale rajatakse uus matkarada", "2024-11-12", [
  "Keskkonnaamet ja kohalik külaselts alustasid järve ümber kulgeva matkaraja ehitamist. Rada tuleb umbes seitsme kilomeetri pikkune ning märjematesse kohtadesse ehitatakse laudtee ja väikesed sillad.",
  "Raja äärde paigaldatakse infotahvlid, mis räägivad piirkonna lindudest, taimedest ja ajaloost. Külaseltsi esimehe sõnul on eesmärk tuua inimesi loodusesse ja samas suunata nad kindlatele radadele, et kaitsta tundlikke kaldaalasid.",
  "Tööd peaksid valmima järgmise aasta suveks. Vabatahtlikud on oodatud talgutele, kus puhastatakse raja alust ja kantakse kohale laudu, ning talgulistele pakutakse sooja lõunat."]),
("vallateataja", "/teated/teehooldus-talv", "Talvine teehooldus: mida peab teadma iga kinnistuomanik", "2024-11-28", [
  "Vald hooldab talvel kõiki avalikke teid, kuid erateede ja kinnistule viivate mahasõitude lumest puhastamine on omaniku kohustus. Sahk liigub esmajärjekorras bussiteedel ja kooli juurde viivatel teedel ning alles seejärel väiksematel külateedel.",
  "Palume mitte parkida autosid teeservale, sest see takistab sahka ja sunnib hooldustöid pooleli jätma. Samuti ei tohi kinnistult lükatud lund tõsta avalikule teele, kuna sellest tekivad ohtlikud vallid.",
  "Kui tee on jäänud puhastamata kauem kui ööpäeva pärast lumesaju lõppu, andke sellest teada vallavalitsusele. Teavitus aitab meil töid paremini planeerida ja lepingupartneri tööd kontrollida."]),
("vallateataja", "/volikogu/istung-oktoober", "Volikogu oktoobri istungi kokkuvõte", "2024-10-24", [
  "Volikogu kinnitas oktoobri istungil valla arengukava muudatused, mille järgi renoveeritakse järgmisel kahel aastal põhikooli võimla ja rajatakse alevikeskusesse uus mänguväljak. Samuti arutati jäätmeveo hinnatõusu, mis puudutab kõiki majapidamisi.",
  "Volikogu liikmed olid ühel meelel, et noorte vaba aja võimalusi tuleb parandada. Noortekeskuse lahtiolekuaegu pikendatakse ja seal hakkab tööle teine noorsootöötaja.",
  "Järgmine istung toimub novembri viimasel neljapäeval. Istungid on avalikud ning neid saab jälgida ka otseülekandena valla kodulehel, kust leiab ka varasemate istungite salvestised."]),
("vallateataja", "/haridus/huviringid", "Huviringid ootavad lapsi uuel õppeaastal", "2024-09-04", [
  "Uuel õppeaastal pakub kool ja noortekeskus kokku üle kahekümne huviringi. Lisaks traditsioonilistele spordi- ja muusikaringidele alustavad tänavu ka kokandus, fotograafia ja keskkonnaring, kus uuritakse kohalikku loodust.",
  "Enamik ringe on lastele tasuta, sest vald katab kulud huvihariduse toetusest. Ringidesse registreerimine toimub septembri keskpaigani ning vabade kohtade olemasolul saab liituda ka hiljem.",
  "Juhendajad julgustavad lapsi proovima midagi uut ja leidma endale meelepärase tegevuse. Kooli huvijuht aitab sobiva ringi valimisel ja vastab lapsevanemate küsimustele."]),
("vallateataja", "/sotsiaalabi/kuttetoetus", "Küttetoetuse taotlemine algab novembris", "2024-10-30", [
  "Vähekindlustatud perekonnad ja üksi elavad pensionärid saavad taotleda valla küttetoetust, mis aitab katta talvise kütmise kulusid. Toetuse suurus sõltub leibkonna sissetulekust ja eluaseme kütteviisist.",
  "Taotluse saab esitada vallamajas sotsiaaltöötaja juures või elektrooniliselt. Kaasa tuleb võtta viimase kolme kuu sissetulekut tõendavad dokumendid ning küttearved või puiduostu kviitungid.",
  "Sotsiaaltöötaja on valmis külastama ka neid, kes ise vallamajja tulla ei saa. Kõik taotlused vaadatakse läbi kahe nädala jooksul ning toetus makstakse välja taotleja pangakontole."]),
("koogitarkused", "/retseptid/kaalikapuder", "Kaalikapuder nagu vanaema tegi", "2024-01-11", [
  "Kaalikapuder on lihtne ja toitev talvine roog, mida mu vanaema keetis pea igal nädalal. Vaja läheb kaalikat, kartulit, porgandit ja tükikest suitsuliha, mis annab pudrule mõnusa maitse.",
  "Koori köögiviljad ja lõika need tükkideks. Keeda kõigepealt suitsuliha umbes pool tundi, seejärel lisa potti kaalikas ja porgand ning veidi hiljem kartul. Kui kõik on pehme, kalla liigne vesi ära ja tambi puder ühtlaseks.",
  "Maitsesta soola ja pipraga ning lisa tükike võid. Serveeri koos hapukapsa ja rukkileivaga. Järgmisel päeval on puder veel maitsvam, kui selle pannil krõbedaks praed."]),
("koogitarkused", "/koogid/ounakook-kaneeliga", "Kiire õunakook kaneeli ja kaerahelvestega", "2024-09-08", [
  "Sügisel, kui õunu on aias rohkem, kui jõuab ära süüa, küpsetan sageli seda kiiret kooki. Taigna jaoks sega jahu, kaerahelbed, suhkur ja külm või puruks, mis meenutab märga liiva.",
  "Pool purust suru ahjuvormi põhja, sellele lao õhukesteks viiludeks lõigatud õunad ja raputa peale kaneeli. Ülejäänud puru puista õuntele ning küpseta kuumas ahjus umbes nelikümmend minutit, kuni pealmine kiht on kuldpruun.",
  "Kook sobib hästi nii soojalt vanillijäätisega kui ka järgmisel päeval kohvi kõrvale. Kui õunad on väga hapud, lisa neile veidi rohkem suhkrut."]),
("koogitarkused", "/hoidised/kurgid", "Hapendatud kurgid ilma äädikata", "2024-07-30", [
  "Hapendatud kurgid on krõmpsud ja värskendavad ning nende tegemiseks pole vaja äädikat. Vali väikesed ja kindlad kurgid, pese need hoolikalt ja lase mõneks tunniks külma vette seisma.",
  "Pane purgi põhja tilli, küüslauku, mädarõikalehti ja mõni mustsõstraleht. Lao kurgid tihedalt purki ja vala peale soolvesi, mille jaoks lahusta liitris vees kaks supilusikatäit soola.",
  "Jäta purk mõneks päevaks toatemperatuurile käärima ja vii seejärel külma keldrisse. Umbes nädala pärast on kurgid valmis, kuid kõige parem maitse tekib kuu aja jooksul."]),
("tehnikanurk", "/nouanded/wifi-levi", "Kuidas parandada kodus WiFi levi", "2024-05-15", [
  "Kui WiFi ühendus katkeb magamistoas või aias, ei pruugi kohe uut ruuterit vaja minna. Esmalt tasub ruuter paigutada kõrgemale ja võimalikult korteri keskele, eemale metallist kappidest ja paksudest seintest.",
  "Suuremas majas aitab võrgusüsteem, kus mitu väikest seadet töötavad koos ja loovad ühe ühise võrgu. Selline lahendus on mugavam kui eraldi levikordajad, sest seade liigub automaatselt kõige tugevama signaaliga punkti külge.",
  "Kontrolli ka, kas ruuteri tarkvara on uuendatud ja kas naabrite võrgud ei kasuta sama kanalit. Paljudel juhtudel paraneb ühenduse kvaliteet märgatavalt juba pärast kanali vahetamist."]),
("tehnikanurk", "/testid/e-luger", "Test: e-luger sobib hästi pikkadeks õhtuteks", "2024-12-02", [
  "Testisime kuu aega uut e-lugerit, mille ekraan on paberilaadne ega väsita silmi ka pikal lugemisel. Seade on kerge, mahub jopetaskusse ja aku peab ühe laadimisega vastu mitu nädalat.",
  "Eesti keele tugi on hea: täpitähed kuvatakse korrektselt ja sisseehitatud sõnastik aitab võõrsõnade tähendust kiiresti leida. Raamatukogu e-raamatute laenutamine õnnestus pärast väikest seadistamist ilma probleemideta.",
  "Puudusena märkisime, et ekraani valgustus ei ole päris ühtlane ja menüü reageerib aeglaselt. Hinda arvestades on seade siiski hea valik neile, kes loevad palju ja soovivad vähendada ekraaniaega."]),
("northern", "/travel/island-hopping", "Island hopping on the Baltic coast", "2024-06-21", [
  "We spent a week travelling between small islands off the Baltic coast, using local ferries that run a few times a day. Each island had its own character, from windswept juniper meadows to quiet fishing harbours with smoked fish sold straight from the boats.",
  "Cycling turned out to be the best way to get around. Distances are short, roads are almost empty, and most guesthouses lend bicycles to their guests for free. Do check the ferry timetables carefully, as a missed boat can mean an unplanned night on an island.",
  "Our favourite stop was a tiny island with a lighthouse and fewer than thirty permanent residents. In the evening the whole village gathered at the harbour to watch the sun go down."]),
("northern", "/food/rye-bread", "Why dark rye bread is worth the effort", "2024-03-14", [
  "Dark rye bread is dense, slightly sour and keeps fresh for a week. Making it at home takes time, because the dough rests for many hours, but the actual work is only a few minutes of mixing and shaping.",
  "The secret is a mature rye starter and patience. Mix the starter with rye flour, water and a little salt, let it rise overnight, then add more flour and bake the loaf slowly in a hot oven. Many families add caraway seeds or a spoonful of dark syrup.",
  "Slice it thinly and serve it with butter, smoked fish or cheese. Once you have tasted a home-made loaf, shop-bought bread may never be quite the same."]),
("northern", "/nature/bog-walks", "Walking on the boardwalks of a raised bog", "2024-09-27", [
  "Raised bogs are among the most striking landscapes in northern Europe. Boardwalks lead across soft moss carpets dotted with dark pools, stunted pines and, in autumn, bright red cranberries.",
  "The best time to visit is early morning, when mist rises from the pools and cranes call in the distance. Wear sturdy shoes, because the boards can be slippery and in places they sink under the water.",
  "Please stay on the boardwalk. The moss grows only about a millimetre a year, and a single footprint can remain visible for a long time. Bring water and snacks, as facilities are rare in these remote areas."]),
("northern", "/about/winter-swimming", "My first winter swim", "2024-02-08", [
  "I had always laughed at people who swim in icy water, until a friend persuaded me to try it during a cold week in February. We walked to a small hole cut in the ice of a lake, with a wood-fired sauna waiting on the shore.",
  "The first seconds were a shock. My breath stopped and my skin burned, but after a short dip I climbed out feeling strangely calm and happy. The sauna afterwards felt like the warmest place on earth.",
  "If you want to try it, never swim alone, start with very short dips and ask your doctor first if you have any heart problems. The feeling afterwards is hard to describe, but it is addictive."]),
("northern", "/travel/old-town-winter", "A winter weekend in a medieval old town", "2024-12-10", [
  "A medieval old town looks its best in winter, when snow covers the red roofs and the Christmas market fills the main square. Wooden stalls sell hand-knitted mittens, honey, candles and hot spiced wine.",
  "Museums and cafes are pleasantly quiet outside the holiday weeks. We spent an afternoon in a pharmacy museum that has been operating on the same square for centuries, and another climbing the town walls for views over the rooftops.",
  "Dress warmly and wear shoes with a good grip, because the cobbled streets become icy. Days are short, so plan outdoor sightseeing for the middle of the day."]),
("northern", "/food/forest-mushrooms", "A beginner's guide to picking forest mushrooms", "2024-08-31", [
  "Mushroom picking is a national pastime in many northern countries, and late summer is the start of the season. Chanterelles are a good choice for beginners, as they are easy to recognise and rarely confused with poisonous species.",
  "Carry a basket rather than a plastic bag, so the mushrooms stay fresh, and cut them with a small knife to protect the ground underneath. Clean them in the forest to save time later in the kitchen.",
  "The golden rule is simple: never eat anything you cannot identify with complete certainty. When in doubt, ask an experienced picker or leave the mushroom where it grew."]),
]
# fmt: on

# Planted junk: each must fail a quality filter (or be dropped by LID). (id suffix, kind, text)
# fmt: off
JUNK_DOCS = [
("menu", "boilerplate navigation",
 "Avaleht | Uudised | Sport | Kultuur | Kontakt\nLogi sisse | Registreeru\nOtsi\nAvaleht | Uudised | Kontakt\nJälgi meid: Facebook | Instagram | YouTube\nKüpsiste seaded\n© Kõik õigused kaitstud\nAvaleht | Uudised | Kontakt"),
("spam", "keyword spam",
 " ".join(["odav laen kiirlaen kohe", "laen ilma tagatiseta", "parim kiirlaen odav laen", "väikelaen kohe kontole", "odav laen"] * 8)),
("repeat", "the same line repeated",
 "\n".join(["Suur allahindlus ainult täna! Vaata kõiki pakkumisi meie e-poes."] * 14)),
("short", "too short", "Tere tulemast!"),
("lorem", "lorem-ipsum and non-words",
 "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. "
 "Tirra vulk passa mõrdi kalpe, sundra vikk õlpas trimm. Kvaadra pölk ummi sarvo ketla, drumpi vaskel õõrik palla zimbo. "
 "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."),
("table", "mostly digits",
 "Kuupäev | Temp | Sademed | Tuul\n" + "\n".join(
    f"2024-03-{d:02d} | {(-4.5 + d * 0.7):.1f} | {(d * 37 % 11) / 2:.1f} | {(d * 53 % 17) / 3:.1f}" for d in range(1, 25))),
("login", "login form",
 "Logi sisse\nKasutajanimi\nParool\nJäta mind meelde\nUnustasid parooli?\nLoo uus konto\nLogi sisse ID-kaardiga\nLogi sisse Smart-ID-ga\nAbi\nKontakt"),
("hashtags", "symbols and hashtags",
 "#soodus #pakkumine #tallinn #tartu #eesti #müük >>> !!! $$$ *** ### >>> !!! $$$ *** ### "
 "#allahindlus #kampaania #tasuta #kohe >>> ??? ### *** !!! #osta #parim #odav >>> >>> >>> ###"),
("notfound", "error page", "Lehte ei leitud. Viga 404."),
("shop", "product listing",
 "\n".join(f"{name}\n{price} €\nLisa ostukorvi" for name, price in [
    ("Naiste talvesaapad", "49,99"), ("Meeste talvesaapad", "59,99"), ("Laste kummikud", "19,99"),
    ("Villased sokid", "7,49"), ("Kindad", "12,90"), ("Müts", "14,50")])),
]

# Near-duplicates of the longer documents: (original slug, how, [(old, new), ...] or append text)
NEAR_DUP_EDITS = [
("praamiliiklus-torm", "one word changed", [("oli eile hommikul", "oli teisipäeva hommikul")]),
("laulupidu-ettevalmistus", "sentence appended", "Täpsem kava avaldatakse peo kodulehel juuni alguses."),
("digiriik-kulisside-taga", "one word changed", [("Viimastel aastatel on rohkem", "Viimasel ajal on rohkem")]),
("rabamatkad", "word changed + short sentence appended", [("väga populaarseks", "üsna populaarseks")], "Head matkamist!"),
("uni-ja-tervis", "first word changed", [("Unearstid hoiatavad", "Uneeksperdid hoiatavad")]),
("metsatoostus-tulevik", "sentence appended", "Arengukava eelnõu avalik arutelu algab sügisel."),
("lapsed-loevad", "one word inserted", [("valib kuus ühe raamatu", "valib kuus vähemalt ühe raamatu")]),
("suusamaraton-sula", "source line appended", "\nAllikas: Lõunaleht."),
("arkamisaeg", "one word changed", [("tekkisid teravad vaidlused", "tekkisid ägedad vaidlused")]),
("rattateede-kava", "paragraphs merged + two words changed", [("\n", " "), ("kestab kuu aega", "kestab kuus nädalat")]),
]

# Exact duplicates: same text republished under another id/url.
EXACT_DUP_SLUGS = [
    "parnu-promenaad", "korvpall-tsehhi", "gripivaktsiin", "jarvede-soojenemine", "kass-koju",
    "maratoni-rada", "hiiumaa-film", "jalgpall-hooaja-lopp", "virmalised", "elektri-borsihind",
]

# Two good records for bad.jsonl (the rest of that file is malformed on purpose).
BAD_FILE_GOOD_DOCS = [
("bad-ok-1",
 "Raamatukogu kolib suveks ajutistesse ruumidesse, sest vanas majas vahetatakse küttesüsteem ja aknad. Laenutus jätkub kultuurimaja teisel korrusel tavapäraste lahtiolekuaegadega. Lugejatel palutakse tagastada raamatud enne kolimist, et neid ei peaks mitu korda ümber tõstma.\n"
 "Remont peaks lõppema augusti lõpuks ning sügisel avatakse raamatukogu uuenenud kujul, kus on rohkem ruumi lastele ja noortele ning vaikne nurk õppimiseks."),
("bad-ok-2",
 "Külaseltsi üldkoosolek toimub pühapäeval rahvamajas. Arutusel on suvise külapäeva korraldamine, bussiootepaviljoni parandamine ja uue juhatuse valimine. Kõik küla elanikud on oodatud kaasa rääkima, sest otsused puudutavad meid kõiki.\n"
 "Pärast koosolekut joome koos kohvi ja vaatame pilte möödunud aasta üritustest. Kui soovid midagi päevakorda lisada, anna sellest teada juhatuse liikmetele enne koosolekut."),
]
# fmt: on
