"""Every fingerprint.v1 RPC against the real server on a free loopback port, through the stubs."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Tuple

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

import fingerprint
from fingerprint.server import ServerConfig, create_server
from fingerprint.v1 import (
    collection_service_pb2 as cpb,
    collection_service_pb2_grpc as cgrpc,
    common_pb2 as pb,
    hash_service_pb2 as hpb,
    hash_service_pb2_grpc as hgrpc,
    ingest_service_pb2 as ipb,
    ingest_service_pb2_grpc as igrpc,
    match_service_pb2 as mpb,
    match_service_pb2_grpc as mgrpc,
)

from test_server_helpers import image_bytes, wav_bytes

TIMEOUT = 60.0


def one(collection: str = "", on_conflict: int = 0, **item: object) -> ipb.AddItemsRequest:
    """An AddItems message carrying one item."""
    return ipb.AddItemsRequest(collection=collection, on_conflict=on_conflict, items=[ipb.Item(**item)])
RNG = np.random.default_rng(1234)
CODES = RNG.integers(0, 256, (500, 8), dtype=np.uint8)  # 64-bit raw codes


class Stubs:
    """The four service stubs on one channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.collections = cgrpc.CollectionServiceStub(channel)
        self.hashing = hgrpc.HashServiceStub(channel)
        self.ingest = igrpc.IngestServiceStub(channel)
        self.matching = mgrpc.MatchServiceStub(channel)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[object, int]]:
    config = ServerConfig(data_dir=str(tmp_path_factory.mktemp("data")), max_batch=1000, max_k=50,
                          max_results=5000, max_concurrent_streams=2, commit_batch=64,
                          max_message_bytes=4 * 1024 * 1024)
    srv, port = create_server("127.0.0.1:0", config)
    srv.start()
    yield srv, port
    srv.stop(5)


@pytest.fixture(scope="module")
def stubs(server: Tuple[object, int]) -> Iterator[Stubs]:
    channel = grpc.insecure_channel(f"127.0.0.1:{server[1]}")
    grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
    yield Stubs(channel)
    channel.close()


@pytest.fixture(scope="module")
def bank(stubs: Stubs) -> str:
    """A raw 64-bit collection holding CODES as i0..i499 with metadata."""
    stubs.collections.CreateCollection(
        cpb.CreateCollectionRequest(name="bank", bits=64), timeout=TIMEOUT)
    reqs = [one(collection="bank" if i == 0 else "", id=f"i{i}",
                                code=CODES[i].tobytes(), metadata={"n": str(i)})
            for i in range(len(CODES))]
    r = stubs.ingest.AddItems(iter(reqs), timeout=TIMEOUT)
    assert r.stored == len(CODES) and not r.errors
    return "bank"


def code_of(err: pytest.ExceptionInfo) -> grpc.StatusCode:
    return err.value.code()  # type: ignore[no-any-return]


# ---------------------------------------------------------------- collections


def test_collection_lifecycle(stubs: Stubs) -> None:
    r = stubs.collections.CreateCollection(
        cpb.CreateCollectionRequest(name="life", algorithm=pb.ALGORITHM_PDQ), timeout=TIMEOUT)
    assert (r.collection.name, r.collection.bits, r.collection.item_count) == ("life", 256, 0)
    assert r.collection.algorithm == pb.ALGORITHM_PDQ and r.collection.create_time > 0
    names = [c.name for c in stubs.collections.ListCollections(
        cpb.ListCollectionsRequest(), timeout=TIMEOUT).collections]
    assert "life" in names and names == sorted(names)
    d = stubs.collections.DescribeCollection(cpb.DescribeCollectionRequest(name="life"), timeout=TIMEOUT)
    assert d.collection.bits == 256
    with pytest.raises(grpc.RpcError) as e:
        stubs.collections.CreateCollection(cpb.CreateCollectionRequest(name="life", bits=64),
                                           timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.ALREADY_EXISTS
    assert stubs.collections.DeleteCollection(
        cpb.DeleteCollectionRequest(name="life"), timeout=TIMEOUT).deleted_items == 0
    for call in (stubs.collections.DescribeCollection, stubs.collections.DeleteCollection):
        with pytest.raises(grpc.RpcError) as e:
            call(cpb.DescribeCollectionRequest(name="life") if call is stubs.collections.DescribeCollection
                 else cpb.DeleteCollectionRequest(name="life"), timeout=TIMEOUT)
        assert code_of(e) == grpc.StatusCode.NOT_FOUND
        assert "life" in e.value.details()


@pytest.mark.parametrize(
    "request_kwargs, words",
    [
        ({"name": "raw-no-bits"}, "bits is required"),
        ({"name": "raw-odd", "bits": 12}, "multiple of 8"),
        ({"name": "raw-huge", "bits": 8192}, "multiple of 8"),
        ({"name": "pdq-64", "algorithm": pb.ALGORITHM_PDQ, "bits": 64}, "256 bits"),
        ({"name": "phash-40", "algorithm": pb.ALGORITHM_PHASH, "bits": 40}, "square"),
        ({"name": "bad name!", "bits": 64}, "collection name"),
        ({"name": "", "bits": 64}, "collection name"),
        ({"name": "alg", "algorithm": 42, "bits": 64}, "unknown algorithm"),
    ],
)
def test_create_collection_rejects_bad_input(stubs: Stubs, request_kwargs: dict, words: str) -> None:
    with pytest.raises(grpc.RpcError) as e:
        stubs.collections.CreateCollection(cpb.CreateCollectionRequest(**request_kwargs), timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT
    assert words in e.value.details()


def test_phash_collection_width_from_bits(stubs: Stubs) -> None:
    r = stubs.collections.CreateCollection(
        cpb.CreateCollectionRequest(name="ph144", algorithm=pb.ALGORITHM_PHASH, bits=144), timeout=TIMEOUT)
    assert r.collection.bits == 144
    stubs.collections.DeleteCollection(cpb.DeleteCollectionRequest(name="ph144"), timeout=TIMEOUT)


# ---------------------------------------------------------------- hashing


def test_hash_image_matches_library(stubs: Stubs) -> None:
    data = image_bytes()
    r = stubs.hashing.Hash(hpb.HashRequest(media=data), timeout=TIMEOUT)
    local = fingerprint.pdq(data)
    assert r.fingerprint.code == bytes(local) and r.fingerprint.bits == 256
    assert r.fingerprint.algorithm == pb.ALGORITHM_PDQ and r.fingerprint.quality == local.quality
    r = stubs.hashing.Hash(hpb.HashRequest(media=data, algorithm=pb.ALGORITHM_PHASH), timeout=TIMEOUT)
    assert r.fingerprint.code == bytes(fingerprint.phash(data)) and not r.fingerprint.HasField("quality")


def test_hash_audio(stubs: Stubs) -> None:
    data = wav_bytes()
    r = stubs.hashing.Hash(hpb.HashRequest(media=data, algorithm=pb.ALGORITHM_AUDIO_SIMHASH),
                           timeout=TIMEOUT)
    fp = fingerprint.audio_fingerprint(data)
    assert r.fingerprint.code == fp.simhash().to_bytes(4, "big") and r.fingerprint.bits == 32
    assert r.fingerprint.audio_fingerprint == fp.encode()


@pytest.mark.parametrize("media, algorithm", [(b"not an image", pb.ALGORITHM_PDQ), (b"", pb.ALGORITHM_PDQ),
                                              (b"RIFF....WAVE", pb.ALGORITHM_AUDIO_SIMHASH)])
def test_hash_undecodable_is_invalid_argument(stubs: Stubs, media: bytes, algorithm: int) -> None:
    with pytest.raises(grpc.RpcError) as e:
        stubs.hashing.Hash(hpb.HashRequest(media=media, algorithm=algorithm), timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details()


def test_hash_stream_reports_bad_items_and_goes_on(stubs: Stubs) -> None:
    names = ["originals/crab.jpg", "originals/koala.jpg", "unrelated/kiwi.png"]
    reqs = [hpb.HashStreamRequest(tag=n, media=image_bytes(n)) for n in names]
    reqs.insert(1, hpb.HashStreamRequest(tag="junk", media=b"junk"))
    reqs.append(hpb.HashStreamRequest(tag="bad-bits", media=image_bytes(), algorithm=pb.ALGORITHM_DHASH,
                                      bits=40))
    reqs.append(hpb.HashStreamRequest(tag="wav", media=wav_bytes(), algorithm=pb.ALGORITHM_AUDIO_SIMHASH))
    out = list(stubs.hashing.HashStream(iter(reqs), timeout=TIMEOUT))
    assert [r.tag for r in out] == [r.tag for r in reqs]
    assert [r.index for r in out] == list(range(len(reqs)))
    assert out[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert out[4].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] and "square" in out[4].error.message
    for r, n in zip([out[0], out[2], out[3]], names):
        assert not r.HasField("error") and r.fingerprint.code == bytes(fingerprint.pdq(image_bytes(n)))
    assert out[5].fingerprint.bits == 32


# ---------------------------------------------------------------- ingest and search


def test_search_top_k_matches_library(stubs: Stubs, bank: str) -> None:
    index = fingerprint.HammingIndex(64)
    index.add(CODES)
    queries = CODES[:20] ^ np.uint8(1)
    r = stubs.matching.Search(mpb.SearchRequest(collection=bank, codes=queries.tobytes(), k=5),
                              timeout=TIMEOUT)
    dist, ids = index.search(queries, 5)
    assert len(r.results) == 20
    for qm, drow, irow in zip(r.results, dist, ids):
        assert list(qm.distances) == drow.tolist()
        # Ties are broken by insertion order on both sides.
        assert list(qm.ids) == [f"i{i}" for i in irow]


def test_search_range_and_both(stubs: Stubs, bank: str) -> None:
    index = fingerprint.HammingIndex(64)
    index.add(CODES)
    q = CODES[:10]
    r = stubs.matching.Search(mpb.SearchRequest(collection=bank, codes=q.tobytes(), max_distance=22),
                              timeout=TIMEOUT)
    offsets, ids, dists = index.range_search(q, 22)
    for i, qm in enumerate(r.results):
        assert list(qm.ids) == [f"i{j}" for j in ids[offsets[i]:offsets[i + 1]]]
        assert list(qm.distances) == dists[offsets[i]:offsets[i + 1]].tolist()
    r = stubs.matching.Search(mpb.SearchRequest(collection=bank, codes=q.tobytes(), k=3, max_distance=0,
                                                include_metadata=True), timeout=TIMEOUT)
    for i, qm in enumerate(r.results):
        assert list(qm.ids) == [f"i{i}"] and list(qm.distances) == [0]
        assert dict(qm.metadata[0].entries) == {"n": str(i)}


@pytest.mark.parametrize(
    "kwargs, status, words",
    [
        ({"codes": CODES[0].tobytes()[:5], "k": 1}, grpc.StatusCode.INVALID_ARGUMENT, "multiple of the code size"),
        ({"codes": b"", "k": 1}, grpc.StatusCode.INVALID_ARGUMENT, "empty"),
        ({"codes": CODES[0].tobytes()}, grpc.StatusCode.INVALID_ARGUMENT, "k"),
        ({"codes": CODES[0].tobytes(), "k": 51}, grpc.StatusCode.RESOURCE_EXHAUSTED, "limit of 50"),
        ({"codes": np.zeros((1001, 8), np.uint8).tobytes(), "k": 1}, grpc.StatusCode.RESOURCE_EXHAUSTED,
         "batch limit"),
        ({"codes": CODES[:20].tobytes(), "max_distance": 64}, grpc.StatusCode.RESOURCE_EXHAUSTED, "over the limit"),
        ({"collection": "nope", "codes": CODES[0].tobytes(), "k": 1}, grpc.StatusCode.NOT_FOUND, "nope"),
    ],
)
def test_search_bad_input(stubs: Stubs, bank: str, kwargs: dict, status: grpc.StatusCode, words: str) -> None:
    kwargs = {"collection": bank, **kwargs}
    with pytest.raises(grpc.RpcError) as e:
        stubs.matching.Search(mpb.SearchRequest(**kwargs), timeout=TIMEOUT)
    assert code_of(e) == status
    assert words in e.value.details()


def test_add_items_reports_each_bad_item(stubs: Stubs) -> None:
    stubs.collections.CreateCollection(cpb.CreateCollectionRequest(name="adds", bits=64), timeout=TIMEOUT)
    reqs = [
        one(collection="adds", id="a", code=b"\x00" * 8),
        one(id="short", code=b"\x00" * 7),
        one(id="", code=b"\x00" * 8),
        one(id="a", code=b"\x01" * 8),
        one(id="nothing"),
        one(id="media", media=image_bytes()),
        one(collection="other", id="x", code=b"\x00" * 8),
        one(id="b", code=b"\x02" * 8, metadata={"k": "v"}),
    ]
    r = stubs.ingest.AddItems(iter(reqs), timeout=TIMEOUT)
    assert r.stored == 2
    assert [(e.index, e.id) for e in r.errors] == [(1, "short"), (2, ""), (3, "a"), (4, "nothing"),
                                                   (5, "media"), (6, "x")]
    codes = [e.error.code for e in r.errors]
    assert codes[2] == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert all(c == grpc.StatusCode.INVALID_ARGUMENT.value[0] for i, c in enumerate(codes) if i != 2)
    assert "raw-code collections cannot hash media" in r.errors[4].error.message
    # Conflict policies: skip keeps the old code, replace swaps it.
    r = stubs.ingest.AddItems(iter([one(collection="adds", id="a", code=b"\xff" * 8,
                                                        on_conflict=pb.CONFLICT_POLICY_SKIP)]), timeout=TIMEOUT)
    assert r.stored == 1 and not r.errors
    search = lambda code: stubs.matching.Search(  # noqa: E731
        mpb.SearchRequest(collection="adds", codes=code, k=1), timeout=TIMEOUT).results[0]
    assert list(search(b"\x00" * 8).ids) == ["a"]
    r = stubs.ingest.AddItems(iter([one(collection="adds", id="a", code=b"\xff" * 8,
                                                        on_conflict=pb.CONFLICT_POLICY_REPLACE)]), timeout=TIMEOUT)
    assert r.stored == 1
    hit = search(b"\xff" * 8)
    assert list(hit.ids) == ["a"] and list(hit.distances) == [0]
    d = stubs.collections.DescribeCollection(cpb.DescribeCollectionRequest(name="adds"), timeout=TIMEOUT)
    assert d.collection.item_count == 2


def test_add_items_stream_errors(stubs: Stubs) -> None:
    with pytest.raises(grpc.RpcError) as e:
        stubs.ingest.AddItems(iter([]), timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        stubs.ingest.AddItems(iter([one(id="x", code=b"1")]), timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT and "name the collection" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        stubs.ingest.AddItems(iter([one(collection="missing", id="x", code=b"1")]),
                              timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.NOT_FOUND


def test_remove_items(stubs: Stubs) -> None:
    stubs.collections.CreateCollection(cpb.CreateCollectionRequest(name="rm", bits=64), timeout=TIMEOUT)
    reqs = [one(collection="rm", id=f"r{i}", code=CODES[i].tobytes()) for i in range(10)]
    assert stubs.ingest.AddItems(iter(reqs), timeout=TIMEOUT).stored == 10
    r = stubs.ingest.RemoveItems(ipb.RemoveItemsRequest(collection="rm", ids=["r1", "r2", "zz", "r1"]),
                                 timeout=TIMEOUT)
    assert r.removed == 2 and list(r.missing) == ["zz"]
    res = stubs.matching.Search(mpb.SearchRequest(collection="rm", codes=CODES[1].tobytes(), k=10),
                                timeout=TIMEOUT).results[0]
    assert "r1" not in res.ids and "r2" not in res.ids and len(res.ids) == 8
    with pytest.raises(grpc.RpcError) as e:
        stubs.ingest.RemoveItems(ipb.RemoveItemsRequest(collection="nope", ids=["a"]), timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.NOT_FOUND
    assert stubs.collections.DeleteCollection(cpb.DeleteCollectionRequest(name="rm"),
                                              timeout=TIMEOUT).deleted_items == 8


def test_media_ingest_and_match(stubs: Stubs) -> None:
    stubs.collections.CreateCollection(
        cpb.CreateCollectionRequest(name="photos", algorithm=pb.ALGORITHM_PDQ), timeout=TIMEOUT)
    originals = ["crab", "koala", "kingfisher"]
    reqs = [one(collection="photos", id=o, media=image_bytes(f"originals/{o}.jpg"))
            for o in originals]
    assert stubs.ingest.AddItems(iter(reqs), timeout=TIMEOUT).stored == 3
    r = stubs.matching.MatchMedia(
        mpb.MatchMediaRequest(collection="photos", media=image_bytes("copies/koala_q25.jpg"), k=1,
                              max_distance=48), timeout=TIMEOUT)
    assert list(r.matches.ids) == ["koala"] and r.fingerprint.bits == 256
    r = stubs.matching.MatchMedia(
        mpb.MatchMediaRequest(collection="photos", media=image_bytes("unrelated/igloo.jpg"), k=1,
                              max_distance=48), timeout=TIMEOUT)
    assert list(r.matches.ids) == []
    with pytest.raises(grpc.RpcError) as e:
        stubs.matching.MatchMedia(mpb.MatchMediaRequest(collection="photos", media=b"zz", k=1), timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.INVALID_ARGUMENT


def test_audio_collection(stubs: Stubs) -> None:
    stubs.collections.CreateCollection(
        cpb.CreateCollectionRequest(name="tracks", algorithm=pb.ALGORITHM_AUDIO_SIMHASH), timeout=TIMEOUT)
    reqs = [one(collection="tracks", id=f"t{s}", media=wav_bytes(seed=s)) for s in range(3)]
    assert stubs.ingest.AddItems(iter(reqs), timeout=TIMEOUT).stored == 3
    r = stubs.matching.MatchMedia(mpb.MatchMediaRequest(collection="tracks", media=wav_bytes(seed=1), k=1),
                                  timeout=TIMEOUT)
    assert list(r.matches.ids) == ["t1"] and list(r.matches.distances) == [0]


def test_match_stream(stubs: Stubs, bank: str) -> None:
    reqs = [mpb.MatchStreamRequest(tag="q0", collection=bank, code=CODES[3].tobytes(), k=2),
            mpb.MatchStreamRequest(tag="short", code=b"\x00"),
            mpb.MatchStreamRequest(tag="media", media=image_bytes()),
            mpb.MatchStreamRequest(tag="empty"),
            mpb.MatchStreamRequest(tag="q1", code=CODES[4].tobytes()),
            mpb.MatchStreamRequest(tag="range", collection=bank, code=CODES[5].tobytes(), max_distance=0),
            mpb.MatchStreamRequest(tag="nope", collection="nope", code=CODES[5].tobytes(), k=1)]
    out = list(stubs.matching.MatchStream(iter(reqs), timeout=TIMEOUT))
    assert [r.tag for r in out] == [r.tag for r in reqs]
    assert list(out[0].matches.ids)[0] == "i3" and len(out[0].matches.ids) == 2
    assert out[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert out[2].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]  # raw collection: no media
    assert out[3].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert list(out[4].matches.ids)[0] == "i4" and len(out[4].matches.ids) == 2  # parameters kept
    assert list(out[5].matches.ids) == ["i5"]
    assert out[6].error.code == grpc.StatusCode.NOT_FOUND.value[0]


def test_match_stream_many_queries_batched(stubs: Stubs, bank: str) -> None:
    def reqs() -> Iterator[mpb.MatchStreamRequest]:
        for i in range(len(CODES)):
            yield mpb.MatchStreamRequest(tag=str(i), collection=bank if i == 0 else "",
                                         code=CODES[i].tobytes(), k=1)

    out = list(stubs.matching.MatchStream(reqs(), timeout=TIMEOUT))
    assert [list(r.matches.ids) for r in out] == [[f"i{i}"] for i in range(len(CODES))]


def test_find_duplicates(stubs: Stubs, bank: str) -> None:
    near = CODES[0:1].copy()
    near[0, 0] ^= 3  # two bits from i0
    batch = np.vstack([CODES[:3], CODES[1:2], near, RNG.integers(0, 256, (1, 8), np.uint8)])
    r = stubs.matching.FindDuplicates(mpb.FindDuplicatesRequest(codes=batch.tobytes(), bits=64,
                                                                max_distance=4), timeout=TIMEOUT)
    i, j, d = fingerprint.find_duplicates(batch, 4)
    assert (list(r.first), list(r.second), list(r.distances)) == (i.tolist(), j.tolist(), d.tolist())
    assert (1, 3, 0) in zip(r.first, r.second, r.distances) and len(r.collection_matches) == 0
    r = stubs.matching.FindDuplicates(mpb.FindDuplicatesRequest(codes=batch.tobytes(), max_distance=4,
                                                                collection=bank, k=1), timeout=TIMEOUT)
    assert [list(m.ids) for m in r.collection_matches][:5] == [["i0"], ["i1"], ["i2"], ["i1"], ["i0"]]
    assert list(r.collection_matches[4].distances) == [2]
    for kwargs, status in [({"bits": 0}, grpc.StatusCode.INVALID_ARGUMENT),
                           ({"bits": 12}, grpc.StatusCode.INVALID_ARGUMENT),
                           ({"bits": 32, "collection": bank}, grpc.StatusCode.INVALID_ARGUMENT),
                           ({"bits": 64, "collection": "nope"}, grpc.StatusCode.NOT_FOUND)]:
        with pytest.raises(grpc.RpcError) as e:
            stubs.matching.FindDuplicates(mpb.FindDuplicatesRequest(codes=batch.tobytes(), max_distance=4,
                                                                    **kwargs), timeout=TIMEOUT)
        assert code_of(e) == status, kwargs
    with pytest.raises(grpc.RpcError) as e:
        stubs.matching.FindDuplicates(mpb.FindDuplicatesRequest(
            codes=np.zeros((200, 8), np.uint8).tobytes(), bits=64, max_distance=0), timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.RESOURCE_EXHAUSTED  # 19900 pairs > max_results


# ---------------------------------------------------------------- limits, deadlines, health, reflection


def test_message_size_limit(stubs: Stubs) -> None:
    with pytest.raises(grpc.RpcError) as e:
        stubs.hashing.Hash(hpb.HashRequest(media=b"\0" * (5 * 1024 * 1024)), timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_concurrent_stream_limit(stubs: Stubs, bank: str) -> None:
    import threading

    release = threading.Event()

    def slow() -> Iterator[mpb.MatchStreamRequest]:
        yield mpb.MatchStreamRequest(collection=bank, code=CODES[0].tobytes(), k=1)
        release.wait(TIMEOUT)

    held = [stubs.matching.MatchStream(slow(), timeout=TIMEOUT) for _ in range(2)]
    try:
        for call in held:  # both streams are open and answering
            assert list(next(call).matches.ids) == ["i0"]
        with pytest.raises(grpc.RpcError) as e:
            list(stubs.matching.MatchStream(
                iter([mpb.MatchStreamRequest(collection=bank, code=CODES[0].tobytes(), k=1)]), timeout=TIMEOUT))
        assert code_of(e) == grpc.StatusCode.RESOURCE_EXHAUSTED and "concurrent streams" in e.value.details()
    finally:
        release.set()
        for call in held:
            assert list(call) == []
    # Slots are released: a new stream works again.
    out = list(stubs.matching.MatchStream(
        iter([mpb.MatchStreamRequest(collection=bank, code=CODES[0].tobytes(), k=1)]), timeout=TIMEOUT))
    assert list(out[0].matches.ids) == ["i0"]


def test_deadline_is_honoured(stubs: Stubs, bank: str) -> None:
    import threading

    gate = threading.Event()

    def stalled() -> Iterator[mpb.MatchStreamRequest]:
        yield mpb.MatchStreamRequest(collection=bank, code=CODES[0].tobytes(), k=1)
        gate.wait(TIMEOUT)

    with pytest.raises(grpc.RpcError) as e:
        list(stubs.matching.MatchStream(stalled(), timeout=1.0))
    gate.set()
    assert code_of(e) == grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(grpc.RpcError) as e:
        stubs.matching.Search(mpb.SearchRequest(collection=bank, codes=CODES.tobytes(), k=5), timeout=1e-6)
    assert code_of(e) == grpc.StatusCode.DEADLINE_EXCEEDED


def test_health(stubs: Stubs) -> None:
    health = health_pb2_grpc.HealthStub(stubs.channel)
    for service in ("", "fingerprint.v1.MatchService", "fingerprint.v1.IngestService"):
        r = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT)
        assert r.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as e:
        health.Check(health_pb2.HealthCheckRequest(service="nope.Service"), timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.NOT_FOUND


def test_reflection(stubs: Stubs) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(stubs.channel)
    reqs = [reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="fingerprint.v1.MatchService")]
    out = list(stub.ServerReflectionInfo(iter(reqs), timeout=TIMEOUT))
    names = {s.name for s in out[0].list_services_response.service}
    assert {"fingerprint.v1.CollectionService", "fingerprint.v1.HashService", "fingerprint.v1.IngestService",
            "fingerprint.v1.MatchService", "grpc.health.v1.Health"} <= names
    from google.protobuf import descriptor_pb2

    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in out[1].file_descriptor_response.file_descriptor_proto]
    assert "fingerprint/v1/match_service.proto" in {f.name for f in files}


# ---------------------------------------------------------------- the Python client


def test_client_round_trip(server: Tuple[object, int]) -> None:
    with fingerprint.Client(f"127.0.0.1:{server[1]}") as c:
        c.wait_ready()
        info = c.create_collection("client", None, 64)
        assert (info.name, info.algorithm, info.bits) == ("client", "raw", 64)
        res = c.add("client", [f"c{i}" for i in range(50)], CODES[:50],
                    metadata=[{"i": str(i)} for i in range(50)])
        assert res.stored == 50 and res.errors == []
        res = c.add("client", ["c0"], CODES[:1])
        assert res.stored == 0 and res.errors[0][:3] == (0, "c0", grpc.StatusCode.ALREADY_EXISTS.value[0])
        assert c.add("client", ["c0"], CODES[:1], on_conflict="skip").stored == 1
        m = c.search("client", CODES[:2], k=1, include_metadata=True)
        assert [x.ids for x in m] == [["c0"], ["c1"]] and m[1].metadata == [{"i": "1"}]
        assert m[0].distances.dtype == np.int32
        assert [x.ids for x in c.match_stream("client", [CODES[7], CODES[8]], k=1)] == [["c7"], ["c8"]]
        dup = c.find_duplicates(np.vstack([CODES[:2], CODES[:1]]), 0, collection="client", k=1)
        assert (dup.first.tolist(), dup.second.tolist()) == ([0], [2])
        assert dup.collection_matches is not None and dup.collection_matches[2].ids == ["c0"]
        assert c.remove("client", ["c1", "zz"]) == (1, ["zz"])
        assert c.describe_collection("client").item_count == 49
        assert "client" in [x.name for x in c.list_collections()]
        fp = c.hash(image_bytes())
        assert bytes(fp.code) == bytes(fingerprint.pdq(image_bytes())) and fp.quality is not None
        many = list(c.hash_many([image_bytes(), b"bad"]))
        assert many[0].error is None and many[1].error and many[1].code is None
        c.create_collection("client-pdq", "pdq")
        assert c.add("client-pdq", ["crab"], media=[EXAMPLES_CRAB]).stored == 1
        hit = c.match_media("client-pdq", image_bytes("copies/crab_small.jpg"), k=1)
        assert hit.ids == ["crab"] and hit.fingerprint is not None and hit.fingerprint.bits == 256
        assert c.delete_collection("client") == 49
        with pytest.raises(ValueError):
            c.add("client-pdq", ["x"], CODES[:1], media=[b"x"])
        with pytest.raises(TypeError):
            c.search("client-pdq", CODES.astype(np.int16), k=1)


EXAMPLES_CRAB = Path(__file__).resolve().parent.parent / "examples" / "images" / "originals" / "crab.jpg"


def test_add_items_chunked_messages(stubs: Stubs) -> None:
    stubs.collections.CreateCollection(cpb.CreateCollectionRequest(name="chunks", bits=64), timeout=TIMEOUT)
    msgs = [ipb.AddItemsRequest(collection="chunks", on_conflict=pb.CONFLICT_POLICY_ERROR,
                                items=[ipb.Item(id=f"c{i}", code=CODES[i].tobytes()) for i in range(0, 300)]),
            ipb.AddItemsRequest(items=[ipb.Item(id="c5", code=CODES[5].tobytes()),  # position 300
                                       ipb.Item(id="c300", code=b"\x00")]),  # position 301
            ipb.AddItemsRequest(items=[ipb.Item(id=f"c{i}", code=CODES[i].tobytes()) for i in range(300, 500)])]
    r = stubs.ingest.AddItems(iter(msgs), timeout=TIMEOUT)
    assert r.stored == 500
    assert [(e.index, e.id, e.error.code) for e in r.errors] == [
        (300, "c5", grpc.StatusCode.ALREADY_EXISTS.value[0]), (301, "c300", grpc.StatusCode.INVALID_ARGUMENT.value[0])]
    # One message over the batch limit (1000 items) fails the call.
    big = ipb.AddItemsRequest(collection="chunks",
                              items=[ipb.Item(id=f"b{i}", code=b"\x00" * 8) for i in range(1001)])
    with pytest.raises(grpc.RpcError) as e:
        stubs.ingest.AddItems(iter([big]), timeout=TIMEOUT)
    assert code_of(e) == grpc.StatusCode.RESOURCE_EXHAUSTED and "batch limit" in e.value.details()
