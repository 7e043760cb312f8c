"""The words and names ``bench_seed`` writes messages with.

About 2,000 words: the most common first (function words, then the words of a support inbox:
orders, deliveries, claims, trucks), then a tail of the remaining trade words mixed with made-up
names (products, places, people), which are what makes a word rare in real traffic. Plain
letters only, so a COPY line never needs escaping.
"""

from __future__ import annotations

import random

COMMON_WORDS = """
the to and you a i of for is it in we your on this that be have with can will are my me our
not please at if as do so but just was from all there get what when here would know no yes now
any could about us they them their has had been an by or up out one some more also need let see
thanks thank hi hello ok okay sure still again today tomorrow yesterday time back soon sorry
right well like how which who why where than then only very much many into over after before
because should did does were its his her him she he am going make made take send sent give
"""
DOMAIN_WORDS = """
order orders delivery deliveries delivered invoice invoices refund payment paid pay account
claim claims policy damage damaged insurance insured truck trucks driver drivers route routes
shipment shipments parcel parcels package packages tracking number address customer customers
support service warranty battery batteries pedal pedals bike bikes gift card cards voucher
return returns exchange appointment schedule scheduled dispatch depot warehouse pickup trailer
load loading unload unloading fuel tank tire tires brake brakes engine mileage kilometers
hours minutes week weeks month months morning afternoon evening night monday tuesday wednesday
thursday friday saturday sunday january february march april june july august september
october november december price prices cost costs fee fees discount offer quote estimate
total amount balance receipt receipts contract contracts document documents form forms
signature photo photos picture pictures file files attachment email phone call called calling
message messages reply answer question questions problem problems issue issues error errors
broken missing late early delay delayed waiting wait waited arrive arrived arrival arriving
leave stop stops start started finish finished done ready available unavailable confirm
confirmed confirmation cancel cancelled change changed update updated check checked checking
review approved approve reject rejected request requested complaint feedback help helpful
team manager agent colleague office branch store shop website app login password reset code
link online portal system screen data details information info name deadline urgent
important priority case ticket reference report accident repair repairs repaired replacement
replace spare part parts model size colour weight box boxes item items product products stock
quantity street city postcode country door floor building gate reception neighbour home work
water fire storm glass window roof kitchen car van bicycle frame wheel chain saddle light
lights charger charging cable screen keyboard laptop printer coffee machine fridge washing
dryer heating boiler pipe leak leaking flood electricity meter reading contractor technician
visit visiting inspection expert assessment photograph evidence witness police statement
hospital doctor injury medical treatment bill bills bank transfer iban card credit debit
cash instalment monthly yearly renewal renew expire expired expiry valid invalid number
premium deductible coverage covered excluded terms conditions privacy consent agreement
signed sign upload uploaded download downloaded attach attached scan scanned copy original
letter post mail mailbox inbox notification notifications alert reminder reminders
relationship relationships identity verified verify verification wallet connector
certificate certificates diploma university student students course courses exam exams grade
grades application applications enrolment semester lecture transcript registration register
registered member membership profile settings language english german french dutch spanish
shift shifts break breaks overtime rest pause border customs toll tolls motorway
highway traffic jam accident detour diesel refuel temperature cooling frozen pallet pallets
container containers seal sealed damaged dock docking ramp slot slots booking booked rebook
eta etd gps position location map navigation destination origin consignee sender recipient
recipients proof pod cmr waybill manifest weight volume fragile hazardous handle careful
quickly slowly exactly probably maybe definitely certainly already almost never always often
sometimes usually later earlier next last first second third few several every each other
another same different new old big small large little long short high low good great fine
bad better best worse wrong correct true false possible impossible easy hard clear full empty
open closed close opening closing free busy happy glad sad angry worried disappointed pleased
satisfied unhappy frustrated kind nice friendly polite rude patient quick slow fast safe
secure unsafe lost found stolen lock locked unlock key keys card pin chip contactless
restaurant hotel flight train ticket tickets seat seats luggage baggage suitcase airport
station platform journey trip travel holiday vacation abroad trip passport visa booking
subscription plan upgrade downgrade trial package monthly annual limit limits usage data
roaming network signal coverage router modem wifi internet connection speed outage fault
technician installation install installed activate activated deactivate disable enable
appointment slot confirm reschedule rescheduled morning noon midday evening weekend holiday
"""
FIRST_NAMES = """
Anna Ben Clara David Elena Felix Greta Hannah Ivan Jonas Karin Leon Maria Noah Olga Paul Quinn
Rosa Sven Tara Uwe Vera Wim Xenia Yusuf Zoe Amir Bea Chen Dilan Emre Fatima Goran Hiro Ines
Jamal Kofi Lena Mateo Nadia Omar Priya Rafael Sara Tomasz Ulla Viktor Wen Yara Zeynep Lukas
Mia Jan Eva Tim Lea Nils Ida Moritz Emma Luca Sofia Aylin Björn Chiara Dario Eleni Farid
"""
LAST_NAMES = """
Okafor Schmidt Müller Weber Fischer Becker Wagner Hoffmann Koch Richter Klein Wolf Neumann
Schwarz Braun Zimmermann Krüger Hartmann Lange Werner Krause Meier Lehmann Köhler Huber Kaiser
Fuchs Peters Scholz Möller Jansen Visser Bakker Smit Mulder Rossi Russo Ferrari Esposito
Bianchi Romano Garcia Martinez Lopez Sanchez Perez Novak Kowalski Nowak Horvat Popescu Yilmaz
Kaya Demir Şahin Nguyen Tran Kim Park Tanaka Suzuki Sato Singh Patel Khan Ahmed Ali Hassan
"""
SYLLABLES = """
ka lo mer ti van dor sel ra bi nu ste gan ple ox quin fel mar zu tor len ber vik sa mo ri tel do
fa ho lu pen gro tas wel fin dra ko nor mi ve qua sol ty lin bra cor el um
"""


def vocabulary(size: int = 2000) -> list[str]:
    """``size`` distinct lower-case words, most common first (the same list on every run)."""
    common = list(dict.fromkeys(COMMON_WORDS.split()))
    domain = [w for w in dict.fromkeys(DOMAIN_WORDS.split()) if w not in common]
    seen = {*common, *domain}
    syllables = SYLLABLES.split()
    rng = random.Random(2000)  # noqa: S311 - the same vocabulary whatever the seed
    names: list[str] = []
    while len(seen) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 3)))
        if word not in seen:
            seen.add(word)
            names.append(word)
    tail = domain[150:] + names
    rng.shuffle(tail)
    return common + domain[:150] + tail


def people() -> tuple[list[str], list[str]]:
    """First names and last names."""
    return FIRST_NAMES.split(), LAST_NAMES.split()
