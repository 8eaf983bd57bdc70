/**
 * A small authoritative DNS server on loopback UDP for tests: A, AAAA and SRV
 * records with TTLs, changed by the test while it runs (RFC 1035 §4 message
 * format, RFC 2782 for SRV). Names it does not hold get NXDOMAIN. Real
 * packets on a real socket: the balancer resolves through node:dns as it
 * would against any server.
 */
import { createSocket } from "node:dgram";
import type { AddressInfo } from "node:net";

export interface DnsRecords {
  a?: { address: string; ttl: number }[];
  aaaa?: { address: string; ttl: number }[];
  srv?: { priority: number; weight: number; port: number; target: string; ttl: number }[];
}

export interface DnsServer {
  /** `127.0.0.1:PORT`, for `resolver.servers`. */
  readonly address: string;
  /** Records by lower-case name. */
  readonly zone: Map<string, DnsRecords>;
  /** Queries answered, by `name type`. */
  readonly queries: Map<string, number>;
  close(): Promise<void>;
}

const TYPES: Record<number, keyof DnsRecords> = { 1: "a", 28: "aaaa", 33: "srv" };

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, "").split(".").filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])), Buffer.from([0])]);
}

function ipv6(address: string): Buffer {
  const [head, tail] = address.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || "0", 16), i * 2));
  return out;
}

function answer(query: Buffer, zone: Map<string, DnsRecords>, queries: Map<string, number>): Buffer {
  const id = query.readUInt16BE(0);
  let offset = 12;
  const labels: string[] = [];
  while (query[offset]! !== 0) {
    const n = query[offset]!;
    labels.push(query.subarray(offset + 1, offset + 1 + n).toString());
    offset += n + 1;
  }
  const questionEnd = offset + 5;
  const type = query.readUInt16BE(offset + 1);
  const name = labels.join(".").toLowerCase();
  const kind = TYPES[type];
  queries.set(`${name} ${kind ?? type}`, (queries.get(`${name} ${kind ?? type}`) ?? 0) + 1);
  const records = zone.get(name);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(1, 4);
  if (records === undefined) {
    header.writeUInt16BE(0x8183, 2); // NXDOMAIN
    return Buffer.concat([header, query.subarray(12, questionEnd)]);
  }
  header.writeUInt16BE(0x8580, 2); // authoritative answer
  const list = kind === undefined ? [] : (records[kind] ?? []);
  const rrs = list.map((r) => {
    let rdata: Buffer;
    if (kind === "a") rdata = Buffer.from((r as { address: string }).address.split(".").map(Number));
    else if (kind === "aaaa") rdata = ipv6((r as { address: string }).address);
    else {
      const s = r as { priority: number; weight: number; port: number; target: string };
      const fixed = Buffer.alloc(6);
      fixed.writeUInt16BE(s.priority, 0);
      fixed.writeUInt16BE(s.weight, 2);
      fixed.writeUInt16BE(s.port, 4);
      rdata = Buffer.concat([fixed, encodeName(s.target)]);
    }
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(type, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(r.ttl, 6);
    rr.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([rr, rdata]);
  });
  header.writeUInt16BE(rrs.length, 6);
  return Buffer.concat([header, query.subarray(12, questionEnd), ...rrs]);
}

export async function startDnsServer(): Promise<DnsServer> {
  const socket = createSocket("udp4");
  const zone = new Map<string, DnsRecords>();
  const queries = new Map<string, number>();
  socket.on("message", (msg, from) => {
    try {
      socket.send(answer(msg, zone, queries), from.port, from.address);
    } catch {
      // A malformed query gets no answer, as from a real server under attack.
    }
  });
  await new Promise<void>((ok) => socket.bind(0, "127.0.0.1", ok));
  const { port } = socket.address() as AddressInfo;
  return { address: `127.0.0.1:${port}`, zone, queries, close: () => new Promise<void>((ok) => socket.close(() => ok())) };
}
