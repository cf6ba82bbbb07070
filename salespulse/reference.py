"""Deterministic reference data: books, customers, regions, channels.

Producer, history generator, Spark and Django all rebuild the same catalogue
from ``(seed, books, customers)`` instead of sharing a file, so they agree on
every id, price and genre without a round trip.  Generation is vectorised
with NumPy (a 500K-book catalogue builds in a few seconds) and draws only on
the given seed, never on the clock.  Name and word lists come from Faker's
pinned en_US providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache

import numpy as np
import pyarrow as pa
from faker.providers.lorem.en_US import Provider as _Lorem
from faker.providers.person.en_US import Provider as _Person

from salespulse.settings import Settings, get_settings


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    country: str
    utc_offset_hours: int
    weight: float


@dataclass(frozen=True, slots=True)
class Channel:
    code: str
    name: str
    weight: float


REGIONS: tuple[Region, ...] = (
    Region("us-east", "US East", "US", -5, 0.20),
    Region("us-west", "US West", "US", -8, 0.16),
    Region("canada", "Canada", "CA", -5, 0.06),
    Region("latam", "Latin America", "BR", -3, 0.07),
    Region("uk", "United Kingdom", "GB", 0, 0.11),
    Region("eu-central", "EU Central", "DE", 1, 0.14),
    Region("eu-south", "EU South", "ES", 1, 0.07),
    Region("nordics", "Nordics", "SE", 1, 0.04),
    Region("mea", "Middle East & Africa", "AE", 4, 0.04),
    Region("apac", "Asia Pacific", "AU", 10, 0.11),
)
CHANNELS: tuple[Channel, ...] = (
    Channel("web", "Web shop", 0.46),
    Channel("mobile_app", "Mobile app", 0.27),
    Channel("marketplace", "Marketplace", 0.14),
    Channel("retail_store", "Retail store", 0.09),
    Channel("phone", "Phone order", 0.04),
)
PAYMENT_METHODS: tuple[str, ...] = ("card", "paypal", "apple_pay", "gift_card", "invoice")
PAYMENT_WEIGHTS: tuple[float, ...] = (0.55, 0.2, 0.15, 0.05, 0.05)
SEGMENTS: tuple[str, ...] = ("consumer", "business", "education", "library")
SEGMENT_WEIGHTS: tuple[float, ...] = (0.74, 0.12, 0.08, 0.06)
#: genre -> (weight in the catalogue, typical list price in cents)
GENRES: dict[str, tuple[float, int]] = {
    "Fiction": (0.16, 1799),
    "Mystery & Thriller": (0.11, 1599),
    "Romance": (0.09, 1299),
    "Science Fiction": (0.07, 1699),
    "Fantasy": (0.08, 1899),
    "Biography": (0.06, 2199),
    "History": (0.06, 2499),
    "Science": (0.05, 2699),
    "Business": (0.06, 2899),
    "Self-Help": (0.05, 1999),
    "Children's": (0.07, 1099),
    "Young Adult": (0.05, 1399),
    "Cooking": (0.03, 2999),
    "Travel": (0.02, 2299),
    "Poetry": (0.02, 1499),
    "Computing": (0.02, 4499),
}
PUBLISHERS: tuple[str, ...] = (
    "Harbor Lane Press",
    "Northwind Books",
    "Blue Heron Publishing",
    "Granite House",
    "Lanternfish Editions",
    "Meridian & Co.",
    "Old Mill Press",
    "Paper Crane Books",
    "Quarry Road Publishers",
    "Redwood Imprints",
    "Silver Birch Media",
    "Tidewater Books",
    "Umber Street Press",
    "Vantage Point Publishing",
    "Willow & Finch",
    "Yellow Door Books",
    "Zenith Editions",
    "Ashgrove Press",
    "Brightwater House",
    "Cobalt Page",
)
CURRENCY = "USD"
UNKNOWN = "unknown"
#: Fixed window for customer sign-ups: reference data must not depend on today.
_SIGNUP_START = date(2016, 1, 1)
_SIGNUP_DAYS = (date(2025, 12, 31) - _SIGNUP_START).days


@dataclass(frozen=True)
class Catalogue:
    """The reference data of one seed, as column arrays (index i = one row)."""

    seed: int
    book_id: np.ndarray
    isbn: np.ndarray
    title: np.ndarray
    author: np.ndarray
    genre: np.ndarray
    publisher: np.ndarray
    publication_year: np.ndarray
    list_price_cents: np.ndarray
    popularity: np.ndarray  # sampling probability of each book (sums to 1)
    customer_id: np.ndarray
    customer_name: np.ndarray
    customer_region: np.ndarray
    customer_segment: np.ndarray
    customer_signup: np.ndarray  # datetime64[D]
    customer_activity: np.ndarray  # sampling probability of each customer

    @property
    def n_books(self) -> int:
        return len(self.book_id)

    @cached_property
    def book_index(self) -> dict[str, int]:
        """``book_id -> row``, built once per catalogue (500K entries take ~100 ms, too much per request)."""
        return {b: i for i, b in enumerate(self.book_id.tolist())}

    @cached_property
    def customer_index(self) -> dict[str, int]:
        """``customer_id -> row``, built once per catalogue."""
        return {c: i for i, c in enumerate(self.customer_id.tolist())}

    @property
    def n_customers(self) -> int:
        return len(self.customer_id)

    def books_table(self) -> pa.Table:
        return pa.table(
            {
                "book_id": self.book_id,
                "isbn": self.isbn,
                "title": self.title,
                "author": self.author,
                "genre": self.genre,
                "publisher": self.publisher,
                "publication_year": self.publication_year.astype(np.int32),
                "list_price_cents": self.list_price_cents.astype(np.int64),
            }
        )

    def customers_table(self) -> pa.Table:
        return pa.table(
            {
                "customer_id": self.customer_id,
                "customer_name": self.customer_name,
                "region": self.customer_region,
                "segment": self.customer_segment,
                "signup_date": pa.array(self.customer_signup, type=pa.date32()),
            }
        )

    def genre_of(self) -> dict[str, str]:
        """book_id -> genre (for the speed layer's per-genre view)."""
        return dict(zip(self.book_id.tolist(), self.genre.tolist(), strict=True))


def regions_table() -> pa.Table:
    return pa.table(
        {
            "region_code": [r.code for r in REGIONS],
            "region_name": [r.name for r in REGIONS],
            "country": [r.country for r in REGIONS],
            "utc_offset_hours": pa.array([r.utc_offset_hours for r in REGIONS], pa.int32()),
        }
    )


def channels_table() -> pa.Table:
    return pa.table({"channel_code": [c.code for c in CHANNELS], "channel_name": [c.name for c in CHANNELS]})


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    numbers = np.arange(1, n + 1).astype(str)
    return np.char.add(prefix, np.char.zfill(numbers, width)).astype(object)


def _isbn13(body9: np.ndarray) -> np.ndarray:
    """ISBN-13 strings ``978`` + 9 digits + check digit, vectorised."""
    digits = np.empty((len(body9), 12), dtype=np.int64)
    digits[:, 0:3] = (9, 7, 8)
    rest = body9.copy()
    for pos in range(11, 2, -1):
        digits[:, pos] = rest % 10
        rest //= 10
    weights = np.tile([1, 3], 6)
    check = (10 - (digits * weights).sum(axis=1) % 10) % 10
    full = np.int64(978) * 10**10 + body9 * 10 + check
    return full.astype(str).astype(object)


def _zipf_weights(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    ranks = rng.permutation(n) + 1
    weights = 1.0 / np.power(ranks, exponent)
    return weights / weights.sum()


def build_catalogue(seed: int, books: int, customers: int) -> Catalogue:
    """Build the catalogue for ``seed``; same arguments, same arrays, on any machine."""
    rng = np.random.Generator(np.random.PCG64(seed))
    words = np.array([w.capitalize() for w in _Lorem.word_list if len(w) > 2], dtype=object)
    first = np.array(list(_Person.first_names), dtype=object)
    last = np.array(list(_Person.last_names), dtype=object)

    # Books ---------------------------------------------------------------
    genre_names = np.array(list(GENRES), dtype=object)
    genre_w = np.array([w for w, _ in GENRES.values()])
    genre_idx = rng.choice(len(genre_names), size=books, p=genre_w / genre_w.sum())
    base_price = np.array([p for _, p in GENRES.values()], dtype=np.float64)[genre_idx]
    price = np.round(base_price * rng.lognormal(0.0, 0.25, books) / 100.0) * 100 - 1
    price = np.clip(price, 299, 19999).astype(np.int64)
    body = (np.arange(books, dtype=np.int64) * 7_919 + rng.integers(0, 10**6)) % 10**9
    n_words = rng.integers(1, 4, books)
    w1, w2, w3 = (words[rng.integers(0, len(words), books)] for _ in range(3))
    the = rng.random(books) < 0.35
    title = np.where(n_words == 1, w1, np.where(n_words == 2, w1 + " " + w2, w1 + " " + w2 + " " + w3))
    title = np.where(the, "The " + title, title)
    n_authors = max(1, books // 6)
    author_pool = (
        first[rng.integers(0, len(first), n_authors)] + " " + last[rng.integers(0, len(last), n_authors)]
    )
    author = author_pool[rng.zipf(1.6, books) % n_authors]
    publisher = np.array(PUBLISHERS, dtype=object)[rng.integers(0, len(PUBLISHERS), books)]
    year = (2026 - np.minimum(rng.exponential(9.0, books), 75)).astype(np.int32)

    # Customers -----------------------------------------------------------
    region_w = np.array([r.weight for r in REGIONS])
    region = np.array([r.code for r in REGIONS], dtype=object)[
        rng.choice(len(REGIONS), size=customers, p=region_w / region_w.sum())
    ]
    segment = np.array(SEGMENTS, dtype=object)[rng.choice(len(SEGMENTS), size=customers, p=SEGMENT_WEIGHTS)]
    signup = np.datetime64(_SIGNUP_START) + rng.integers(0, _SIGNUP_DAYS + 1, customers).astype(
        "timedelta64[D]"
    )
    name = first[rng.integers(0, len(first), customers)] + " " + last[rng.integers(0, len(last), customers)]
    activity = rng.gamma(0.6, 1.0, customers) + 1e-3

    return Catalogue(
        seed=seed,
        book_id=_ids("BK", books, 7),
        isbn=_isbn13(body),
        title=title.astype(object),
        author=author.astype(object),
        genre=genre_names[genre_idx],
        publisher=publisher,
        publication_year=year,
        list_price_cents=price,
        popularity=_zipf_weights(rng, books, 1.07),
        customer_id=_ids("CU", customers, 7),
        customer_name=name.astype(object),
        customer_region=region,
        customer_segment=segment,
        customer_signup=signup,
        customer_activity=activity / activity.sum(),
    )


@lru_cache(maxsize=4)
def _cached(seed: int, books: int, customers: int) -> Catalogue:
    return build_catalogue(seed, books, customers)


def get_catalogue(settings: Settings | None = None, *, books: int | None = None) -> Catalogue:
    """The catalogue of the configured seed and sizes (cached per process)."""
    s = settings or get_settings()
    return _cached(s.seed, books or s.books, s.customers)


def isbn13_is_valid(isbn: str) -> bool:
    """Check digit test, used by tests and by CSV ingestion of ISBN product ids."""
    if len(isbn) != 13 or not isbn.isdigit():
        return False
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(isbn[:12]))
    return (10 - total % 10) % 10 == int(isbn[12])
