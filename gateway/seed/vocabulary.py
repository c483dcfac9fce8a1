"""Names, places, phone formats and texts per country, in the country's own script.

Names are (native, latin) pairs: the latin form only builds e-mail addresses. Every
e-mail domain is under example.com/.net/.org (RFC 2606), so demo mail reaches nobody.
"""

# Cyrillic and Chinese text is the point of this module, not a look-alike typo.
# ruff: noqa: RUF001

from __future__ import annotations

from dataclasses import dataclass
from random import Random


@dataclass(frozen=True, slots=True)
class Locale:
    country: str  # ISO 3166 alpha-2, as stored in addresses.country
    jurisdiction: str  # EU | KZ | RU | CN
    language: str  # en | ru | zh: the language of the texts this person writes
    male: tuple[tuple[str, str], ...]
    female: tuple[tuple[str, str], ...]
    surnames: tuple[tuple[str, str], ...]
    cities: tuple[tuple[str, str], ...]  # (city, postal-code template; '#' is a random digit)
    streets: tuple[str, ...]
    line1: str  # format of an address line: {street} {no} {flat}
    address: str  # format of a whole address: {line1} {postal} {city} {country}
    phones: tuple[str, ...]  # templates; '#' is a random digit
    company: tuple[str, ...]  # legal-name formats: {surname} {initial} {word} {city}
    company_words: tuple[str, ...]
    tax_id: str  # template; '#' is a random digit


def _pairs(spec: str) -> tuple[tuple[str, str], ...]:
    """'Иван:ivan Пётр:petr' -> (('Иван', 'ivan'), ('Пётр', 'petr'))."""
    return tuple((native, latin) for native, latin in (w.split(":") for w in spec.split()))


def _words(spec: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in spec.split("|"))


_EU_WORDS = _words("Handel|Trading|Commerce|Market|Home & Living|Tech")
_RU_WORDS = _words("Северный ветер|Восток|Радуга|Альфа-Маркет|Технопарк|Самовар|Берёзка")
_KZ_WORDS = _words("Алтын Дала|Береке|Жибек Жолы|Тулпар|Степной ветер|Асыл Тас")
_CN_WORDS = _words("明达|华鑫|鼎盛|恒通|瑞丰|嘉禾")

_RU_STREETS = _words("ул. Ленина|ул. Пушкина|пр. Мира|ул. Гагарина|ул. Садовая|ул. Лесная")
_KZ_STREETS = _words(
    "ул. Абая|пр. Достык|ул. Толе би|ул. Сатпаева|пр. Республики|ул. Кабанбай батыра"
)

LOCALES: dict[str, Locale] = {
    loc.country: loc
    for loc in (
        Locale(
            "DE",
            "EU",
            "en",
            _pairs("Lukas:lukas Jonas:jonas Felix:felix Paul:paul Leon:leon Maximilian:maximilian"),
            _pairs("Anna:anna Lena:lena Laura:laura Mia:mia Sophie:sophie Hannah:hannah"),
            _pairs(
                "Schmidt:schmidt Müller:mueller Becker:becker Fischer:fischer Wagner:wagner"
                " Hoffmann:hoffmann Schäfer:schaefer Koch:koch"
            ),
            (
                ("Berlin", "10###"),
                ("München", "80###"),
                ("Hamburg", "20###"),
                ("Köln", "50###"),
                ("Frankfurt am Main", "60###"),
            ),
            _words("Hauptstraße|Bahnhofstraße|Gartenweg|Schillerstraße|Lindenallee"),
            "{street} {no}",
            "{line1}, {postal} {city}, Deutschland",
            ("+49 151 ########", "+49 160 #######", "+49 176 ########"),
            ("{surname} {word} GmbH",),
            _EU_WORDS,
            "DE#########",
        ),
        Locale(
            "FR",
            "EU",
            "en",
            _pairs("Louis:louis Hugo:hugo Jules:jules Lucas:lucas Arthur:arthur"),
            _pairs("Marie:marie Camille:camille Chloé:chloe Léa:lea Manon:manon"),
            _pairs(
                "Dubois:dubois Martin:martin Bernard:bernard Lefèvre:lefevre Moreau:moreau"
                " Laurent:laurent"
            ),
            (("Paris", "750##"), ("Lyon", "6900#"), ("Marseille", "130##"), ("Toulouse", "310##")),
            _words("rue de la Paix|avenue Victor Hugo|rue Nationale|boulevard Voltaire"),
            "{no} {street}",
            "{line1}, {postal} {city}, France",
            ("+33 6 ## ## ## ##", "+33 7 ## ## ## ##"),
            ("{surname} {word} SARL",),
            _EU_WORDS,
            "FR###########",
        ),
        Locale(
            "ES",
            "EU",
            "en",
            _pairs("Javier:javier Carlos:carlos Pablo:pablo Diego:diego Álvaro:alvaro"),
            _pairs("Lucía:lucia Carmen:carmen Sofía:sofia Elena:elena Paula:paula"),
            _pairs(
                "García:garcia Fernández:fernandez López:lopez Martínez:martinez"
                " Sánchez:sanchez Romero:romero"
            ),
            (
                ("Madrid", "280##"),
                ("Barcelona", "080##"),
                ("Valencia", "460##"),
                ("Sevilla", "410##"),
            ),
            _words("Calle Mayor|Calle de Alcalá|Avenida de la Constitución|Calle Real"),
            "{street} {no}",
            "{line1}, {postal} {city}, España",
            ("+34 6## ### ###",),
            ("{word} {surname} S.L.",),
            _EU_WORDS,
            "ESB########",
        ),
        Locale(
            "IT",
            "EU",
            "en",
            _pairs("Marco:marco Luca:luca Giuseppe:giuseppe Matteo:matteo Andrea:andrea"),
            _pairs("Giulia:giulia Francesca:francesca Chiara:chiara Sara:sara Martina:martina"),
            _pairs(
                "Rossi:rossi Russo:russo Ferrari:ferrari Esposito:esposito Bianchi:bianchi"
                " Romano:romano"
            ),
            (("Roma", "001##"), ("Milano", "201##"), ("Napoli", "801##"), ("Torino", "101##")),
            _words("Via Roma|Via Garibaldi|Corso Italia|Via Dante|Piazza Verdi"),
            "{street} {no}",
            "{line1}, {postal} {city}, Italia",
            ("+39 3## ### ####",),
            ("{surname} {word} S.r.l.",),
            _EU_WORDS,
            "IT###########",
        ),
        Locale(
            "PL",
            "EU",
            "en",
            _pairs("Piotr:piotr Jan:jan Tomasz:tomasz Krzysztof:krzysztof Michał:michal"),
            _pairs("Agnieszka:agnieszka Katarzyna:katarzyna Magdalena:magdalena Zofia:zofia"),
            _pairs(
                "Nowak:nowak Kowalski:kowalski Wiśniewski:wisniewski Wójcik:wojcik"
                " Kamiński:kaminski Lewandowski:lewandowski"
            ),
            (
                ("Warszawa", "00-###"),
                ("Kraków", "30-###"),
                ("Gdańsk", "80-###"),
                ("Wrocław", "50-###"),
            ),
            _words("ul. Marszałkowska|ul. Długa|ul. Polna|ul. Kwiatowa|al. Jana Pawła II"),
            "{street} {no}/{flat}",
            "{line1}, {postal} {city}, Polska",
            ("+48 5## ### ###", "+48 6## ### ###"),
            ("{surname} {word} Sp. z o.o.",),
            _EU_WORDS,
            "PL##########",
        ),
        Locale(
            "RU",
            "RU",
            "ru",
            _pairs(
                "Иван:ivan Дмитрий:dmitry Алексей:alexey Сергей:sergey Михаил:mikhail"
                " Павел:pavel Андрей:andrey"
            ),
            _pairs(
                "Ольга:olga Мария:maria Анна:anna Екатерина:ekaterina Наталья:natalya"
                " Татьяна:tatyana Елена:elena"
            ),
            _pairs(
                "Кузнецов:kuznetsov Петров:petrov Волков:volkov Смирнов:smirnov"
                " Соколов:sokolov Попов:popov Лебедев:lebedev Морозов:morozov"
            ),
            (
                ("Москва", "1#####"),
                ("Санкт-Петербург", "19####"),
                ("Казань", "420###"),
                ("Новосибирск", "630###"),
                ("Екатеринбург", "620###"),
            ),
            _RU_STREETS,
            "{street}, д. {no}, кв. {flat}",
            "{postal}, Россия, г. {city}, {line1}",
            ("+7 9## ###-##-##",),
            ("ООО «{word}»", "ИП {surname} {initial}."),
            _RU_WORDS,
            "77########",
        ),
        Locale(
            "KZ",
            "KZ",
            "ru",
            _pairs(
                "Ержан:erzhan Нурлан:nurlan Асхат:askhat Данияр:daniyar Марат:marat Арман:arman"
            ),
            _pairs(
                "Айгерим:aigerim Динара:dinara Айгуль:aigul Жанар:zhanar Мадина:madina Сауле:saule"
            ),
            _pairs(
                "Сапаров:saparov Нурланов:nurlanov Ахметов:akhmetov Жанибеков:zhanibekov"
                " Касымов:kasymov Омаров:omarov Серикбаев:serikbaev"
            ),
            (
                ("Алматы", "050###"),
                ("Астана", "010###"),
                ("Шымкент", "160###"),
                ("Караганда", "100###"),
            ),
            _KZ_STREETS,
            "{street}, д. {no}, кв. {flat}",
            "{postal}, Казахстан, г. {city}, {line1}",
            ("+7 701 ### ## ##", "+7 705 ### ## ##", "+7 747 ### ## ##", "+7 777 ### ## ##"),
            ("ТОО «{word}»", "ИП {surname} {initial}."),
            _KZ_WORDS,
            "############",
        ),
        Locale(
            "CN",
            "CN",
            "zh",
            _pairs("伟:wei 强:qiang 磊:lei 军:jun 洋:yang 勇:yong 杰:jie"),
            _pairs("芳:fang 娜:na 敏:min 静:jing 丽:li 婷:ting 秀英:xiuying"),
            _pairs("王:wang 李:li 张:zhang 刘:liu 陈:chen 杨:yang 黄:huang 赵:zhao"),
            (
                ("北京市朝阳区", "1000##"),
                ("上海市浦东新区", "2001##"),
                ("广州市天河区", "5106##"),
                ("深圳市南山区", "5180##"),
                ("杭州市西湖区", "3100##"),
            ),
            _words("建国路|人民路|中山路|解放路|长江路"),
            "{street}{no}号{flat}室",
            "{postal} 中国{city}{line1}",
            ("+86 13# #### ####", "+86 15# #### ####", "+86 18# #### ####"),
            ("{city}{word}贸易有限公司",),
            _CN_WORDS,
            "91######MA########",
        ),
    )
}

EU_COUNTRIES = ("DE", "FR", "ES", "IT", "PL")
CURRENCY = {"EU": "EUR", "RU": "RUB", "KZ": "KZT", "CN": "CNY"}
# Rough units of local currency per euro, so prices look plausible in each market.
_PER_EUR = {"EUR": 1.0, "RUB": 100.0, "KZT": 520.0, "CNY": 7.8}


def digits(rng: Random, template: str) -> str:
    """Replace each '#' of the template with a random digit (one draw per template)."""
    count = template.count("#")
    if count == 0:
        return template
    filled = iter(f"{rng.randrange(10**count):0{count}d}")
    return "".join(next(filled) if ch == "#" else ch for ch in template)


def feminine(locale: Locale, surname: str) -> str:
    if locale.language == "ru" and surname.endswith(("ов", "ев", "ин")):
        return surname + "а"
    if locale.language == "ru" and surname.endswith(("ov", "ev", "in")):
        return surname + "a"
    if locale.country == "PL" and surname.endswith(("ski", "ński")):
        return surname[:-1] + "a"
    return surname


def full_name(locale: Locale, first: str, last: str) -> str:
    return f"{last}{first}" if locale.language == "zh" else f"{first} {last}"


@dataclass(frozen=True, slots=True)
class Place:
    line1: str
    city: str
    postal_code: str
    text: str  # the whole address as printed on a parcel or an invoice


def place(rng: Random, locale: Locale) -> Place:
    city, postal_template = rng.choice(locale.cities)
    line1 = locale.line1.format(
        street=rng.choice(locale.streets), no=rng.randint(1, 180), flat=rng.randint(1, 240)
    )
    postal = digits(rng, postal_template)
    return Place(line1, city, postal, locale.address.format(line1=line1, postal=postal, city=city))


def price_cents(rng: Random, base_eur_cents: int, currency: str) -> int:
    units = base_eur_cents / 100 * _PER_EUR[currency] * rng.uniform(0.8, 1.3)
    if currency in ("RUB", "KZT"):  # whole units ending in 9: 5 490, 25 990
        return (max(1, round(units / 10)) * 10 - 1) * 100
    return int(units) * 100 + 99  # 49.99


# (en, ru, zh, base price in euro cents)
PRODUCTS: tuple[tuple[str, str, str, int], ...] = (
    ("Wireless earbuds", "Беспроводные наушники", "无线耳机", 4999),
    ("Smartphone case", "Чехол для смартфона", "手机壳", 1299),
    ("USB-C charger 65 W", "Зарядное устройство USB-C 65 Вт", "65W USB-C 充电器", 2999),
    ("Mechanical keyboard", "Механическая клавиатура", "机械键盘", 8999),
    ("Ceramic teapot", "Керамический заварочный чайник", "陶瓷茶壶", 2499),
    ("Green tea 250 g", "Зелёный чай 250 г", "绿茶 250克", 1599),
    ("Wool scarf", "Шерстяной шарф", "羊毛围巾", 3499),
    ("Running shoes", "Кроссовки для бега", "跑鞋", 7999),
    ("Backpack 25 L", "Рюкзак 25 л", "25升背包", 5499),
    ("LED desk lamp", "Светодиодная настольная лампа", "LED台灯", 3999),
    ("Cast-iron pan", "Чугунная сковорода", "铸铁锅", 4499),
    ("Yoga mat", "Коврик для йоги", "瑜伽垫", 2799),
    ("Children's picture book", "Детская книжка с картинками", "儿童绘本", 1499),
    ("Smart watch", "Умные часы", "智能手表", 15999),
    ("Silk pillowcase", "Шёлковая наволочка", "真丝枕套", 3299),
    ("Bluetooth speaker", "Bluetooth-колонка", "蓝牙音箱", 5999),
    ("Coffee grinder", "Кофемолка", "磨豆机", 6499),
    ("Phone tripod", "Штатив для телефона", "手机三脚架", 1899),
)
COLOURS: tuple[tuple[str, str, str], ...] = (
    ("black", "чёрный", "黑色"),
    ("white", "белый", "白色"),
    ("blue", "синий", "蓝色"),
    ("red", "красный", "红色"),
    ("grey", "серый", "灰色"),
)
_LANG_INDEX = {"en": 0, "ru": 1, "zh": 2}


def product_text(rng: Random, language: str, city: str) -> tuple[str, str, int]:
    """(title, description, base price in euro cents) of a random catalogue item."""
    i = _LANG_INDEX[language]
    item, colour = rng.choice(PRODUCTS), rng.choice(COLOURS)
    if language == "zh":
        title = f"{item[i]}（{colour[i]}）"
        return title, f"{title}。{city}发货，两天内发出，保修12个月。", item[3]
    title = f"{item[i]}, {colour[i]}"
    if language == "ru":
        text = f"{title}. Отправка из г. {city} в течение 2 дней. Гарантия 12 месяцев."
    else:
        text = f"{title}. Ships from {city} within 2 days. 12-month warranty."
    return title, text, item[3]


REVIEWS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "good": (
            "Exactly as described, fast delivery.",
            "Great quality for the price.",
            "Would buy again from this seller.",
        ),
        "mid": ("Fine, but the packaging was damaged.", "Does the job, nothing special."),
        "bad": ("Broke after a week.", "Not as pictured, returning it."),
    },
    "ru": {
        "good": (
            "Всё как в описании, доставка быстрая.",
            "Отличное качество за свои деньги.",
            "Продавцу спасибо, закажу ещё.",
        ),
        "mid": ("Нормально, но упаковка помята.", "Свою задачу выполняет, не более."),
        "bad": ("Сломалось через неделю.", "Не соответствует фото, оформил возврат."),
    },
    "zh": {
        "good": ("和描述一致，发货很快。", "性价比很高，质量不错。", "会再来这家店回购。"),
        "mid": ("还可以，就是包装有点破。", "能用，一般般。"),
        "bad": ("用了一周就坏了。", "和图片不符，已申请退货。"),
    },
}


def review_text(rng: Random, language: str, rating: int) -> str:
    band = "good" if rating >= 4 else "mid" if rating == 3 else "bad"
    return rng.choice(REVIEWS[language][band])


COMMENTS: dict[str, tuple[str, ...]] = {
    "en": (
        "Looks great!",
        "Where can I get the blue one?",
        "Does it come with a warranty?",
        "Mine arrived yesterday, very happy.",
        "How long did shipping take?",
    ),
    "ru": (
        "Выглядит отлично!",
        "А синий цвет есть?",
        "Гарантия есть?",
        "Мне вчера пришёл, доволен.",
        "Сколько шла доставка?",
    ),
    "zh": (
        "看起来很棒！",
        "蓝色的还有货吗？",
        "有保修吗？",
        "我的昨天到了，很满意。",
        "快递多久到的？",
    ),
}

CAPTIONS: dict[str, tuple[str, ...]] = {
    "en": ("Unboxing: {p}", "First impressions of my {p}", "{p} after one month"),
    "ru": ("Распаковка: {p}", "Первые впечатления: {p}", "{p} — месяц спустя"),
    "zh": ("开箱：{p}", "{p}初体验", "{p}用了一个月"),
}

# Order chats as alternating lines, buyer first; a conversation takes a prefix of one.
ORDER_CHATS: dict[str, tuple[tuple[str, ...], ...]] = {
    "en": (
        (
            "Hi! When will my order ship?",
            "Hello, it leaves our warehouse tomorrow morning.",
            "Great, thank you!",
            "You're welcome. The tracking code is {tracking}.",
            "Could you pack it as a gift?",
            "Sure, at no extra charge.",
        ),
        (
            "Can I change the delivery address?",
            "Yes, send me the new address here.",
            "Please deliver to my office instead.",
            "Done, the courier has been informed.",
        ),
    ),
    "ru": (
        (
            "Здравствуйте! Когда отправите заказ?",
            "Добрый день, завтра утром передадим в доставку.",
            "Отлично, спасибо!",
            "Пожалуйста. Трек-номер: {tracking}.",
            "Можно упаковать как подарок?",
            "Конечно, бесплатно.",
        ),
        (
            "Можно поменять адрес доставки?",
            "Да, напишите новый адрес здесь.",
            "Доставьте, пожалуйста, на работу.",
            "Готово, курьер предупреждён.",
        ),
    ),
    "zh": (
        (
            "你好！订单什么时候发货？",
            "您好，明天上午发出。",
            "好的，谢谢！",
            "不客气，快递单号：{tracking}。",
            "可以帮忙包装成礼物吗？",
            "可以，免费的。",
        ),
        (
            "可以修改收货地址吗？",
            "可以，请在这里发新地址。",
            "请送到我公司。",
            "已改好，快递员已通知。",
        ),
    ),
}
COURIER_LINES: dict[str, str] = {
    "en": "Courier here: I will deliver between 10:00 and 14:00, please be at home.",
    "ru": "Это курьер: привезу с 10:00 до 14:00, будьте, пожалуйста, дома.",
    "zh": "我是快递员：10点到14点之间送达，请保持电话畅通。",
}
PRESALE_CHATS: dict[str, tuple[str, ...]] = {
    "en": (
        "Hello, is the {p} still in stock?",
        "Yes, we have plenty.",
        "Do you ship to my country?",
        "We ship everywhere the platform delivers.",
    ),
    "ru": (
        "Здравствуйте, {p} есть в наличии?",
        "Да, в наличии.",
        "Доставляете в мой город?",
        "Доставляем во все города, куда возит платформа.",
    ),
    "zh": (
        "你好，{p}还有货吗？",
        "有的，库存充足。",
        "能寄到我这里吗？",
        "平台能送到的地方都可以寄。",
    ),
}
TOPICS: dict[str, tuple[str, str]] = {  # (order chat, pre-sale question)
    "en": ("Order #{order}", "Question about {p}"),
    "ru": ("Заказ №{order}", "Вопрос о товаре: {p}"),
    "zh": ("订单 #{order}", "咨询：{p}"),
}
