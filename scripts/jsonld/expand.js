#!/usr/bin/env node
// Fetches one JSON-LD document from a running usher (an item, a collection, the entrypoint, the
// Hydra documentation) and prints it expanded by a real JSON-LD processor (the npm `jsonld`
// package), so that tests can check the absolute IRIs a client would see.
//
//   node scripts/jsonld/expand.js <url>
//
// Environment: USHER_BEARER (sent as `Authorization: Bearer …`) or USHER_API_TOKEN (sent as
// `Api-Token: …`). Remote contexts are loaded only from the same server's `/api/contexts/…`; any
// other remote context is an error, so the answer must be self-describing.
//
// Install its dependencies first: `npm ci --prefix scripts/jsonld` (scripts/test does).
'use strict';

const jsonld = require('jsonld');

function fail(message) {
  process.stderr.write(`expand.js: ${message}\n`);
  process.exit(2);
}

async function getJson(url, headers) {
  const res = await fetch(url, { headers: { accept: 'application/ld+json', ...headers } });
  const text = await res.text();
  if (!res.ok) {
    throw new Error(`GET ${url} answered ${res.status}: ${text}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`GET ${url} is not JSON: ${e.message}`);
  }
}

async function main() {
  const target = process.argv[2];
  if (!target) {
    fail('usage: node expand.js <url>');
  }
  const url = new URL(target);
  const auth = {};
  if (process.env.USHER_BEARER) {
    auth.authorization = `Bearer ${process.env.USHER_BEARER}`;
  }
  if (process.env.USHER_API_TOKEN) {
    auth['api-token'] = process.env.USHER_API_TOKEN;
  }
  const contexts = `${url.origin}/api/contexts/`;
  const loaded = [];

  // Only the server's own contexts may be loaded; anything else would hide a broken answer
  // behind someone else's document.
  const documentLoader = async (iri) => {
    if (!iri.startsWith(contexts)) {
      throw new Error(`refusing to load a remote context that is not the server's own: ${iri}`);
    }
    loaded.push(iri);
    return { contextUrl: null, documentUrl: iri, document: await getJson(iri, {}) };
  };

  const doc = await getJson(url.href, auth);
  const expanded = await jsonld.expand(doc, { base: url.href, documentLoader, safe: true });
  process.stdout.write(`${JSON.stringify({ loaded, expanded }, null, 2)}\n`);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
