// @fastify/reply-from with `base` given the backends (it builds an undici BalancedPool): a Node peer.
// NAIVE_TARGETS=... NAIVE_PORT=... node fastify-reply-from.mjs
import Fastify from "fastify";
import replyFrom from "@fastify/reply-from";

const targets = (process.env.NAIVE_TARGETS ?? "").split(",").filter(Boolean);
const app = Fastify({ logger: false });
await app.register(replyFrom, { base: targets });
// Bodies pass through untouched: no parsing.
app.removeAllContentTypeParsers();
app.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
app.all("/*", (request, reply) => reply.from(request.url));
await app.listen({ port: Number(process.env.NAIVE_PORT), host: "127.0.0.1" });
console.error(`fastify reply-from listening on ${process.env.NAIVE_PORT}`);
