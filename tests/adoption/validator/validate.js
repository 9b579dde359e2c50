#!/usr/bin/env node
// Validate a Forge manifest with Atlassian's own validator (@forge/manifest, pinned in
// package.json), the way `forge lint` does: the FULL validation processor (schema, modules,
// connectModules, remotes, endpoints, permissions, ...) plus the PRODUCT_TRIGGER processor
// (the scopes each product event in a `trigger` needs; `forge lint` runs it too).
//
//   node validate.js path/to/manifest.yml
//   node validate.js --serve        (paths on stdin, one JSON answer per line on stdout)
//
// Prints a JSON list of the error-level findings on stdout ([] when clean) and the warnings
// as JSON on stderr; exits 1 when there is an error, 2 on a usage error.
//
// The manifest is copied into a fresh temporary directory as manifest.yml and validated
// there, so files a manifest may reference (resources, handlers) resolve against nothing
// but the manifest itself and nothing of the working directory leaks in.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { ProcessorBuilder, ValidationTypes } = require('@forge/manifest');

const VALIDATIONS = [ValidationTypes.FULL, ValidationTypes.PRODUCT_TRIGGER];

async function validate(source) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'forge-manifest-'));
  const target = path.join(dir, 'manifest.yml');
  fs.copyFileSync(source, target);
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const errors = [];
    const warnings = [];
    const seen = new Set();
    for (const type of VALIDATIONS) {
      // build() caches the processor per type: the schemas are compiled once per process.
      const result = await ProcessorBuilder.instance().withValidation(type).build().process(target);
      for (const finding of result.errors || []) {
        const entry = {
          validation: type,
          level: finding.level,
          message: finding.message,
          reference: finding.reference,
          line: finding.line ?? 0,
          column: finding.column ?? 0,
        };
        // Both processors run the schema validation: report a finding once.
        const key = `${entry.level}|${entry.message}|${entry.line}`;
        if (seen.has(key)) continue;
        seen.add(key);
        (finding.level === 'error' ? errors : warnings).push(entry);
      }
      if (!result.success && !(result.errors || []).some((f) => f.level === 'error')) {
        errors.push({
          validation: type,
          level: 'error',
          message: 'validation failed without a finding (the manifest could not be read)',
          reference: 'validate.js',
          line: 0,
          column: 0,
        });
      }
    }
    return { errors, warnings };
  } finally {
    process.chdir(cwd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// --serve: one manifest path per line on stdin, one JSON line {"errors": [...], "warnings": [...]}
// per path on stdout. The processors (and their compiled schemas) are built once.
async function serve() {
  const readline = require('readline');
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    const source = line.trim();
    if (!source) continue;
    let answer;
    if (!fs.existsSync(source)) {
      answer = { errors: [{ level: 'error', message: `no such file: ${source}` }], warnings: [] };
    } else {
      answer = await validate(path.resolve(source));
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
}

async function main() {
  if (process.argv[2] === '--serve') {
    await serve();
    return;
  }
  const source = process.argv[2];
  if (!source || !fs.existsSync(source)) {
    process.stderr.write(`usage: node validate.js path/to/manifest.yml | --serve (got ${source})\n`);
    process.exit(2);
  }
  const { errors, warnings } = await validate(path.resolve(source));
  if (warnings.length) process.stderr.write(JSON.stringify(warnings, null, 2) + '\n');
  process.stdout.write(JSON.stringify(errors, null, 2) + '\n');
  process.exit(errors.length ? 1 : 0);
}

main().catch((error) => {
  process.stderr.write(`validate.js crashed: ${error && error.stack ? error.stack : error}\n`);
  process.exit(3);
});
