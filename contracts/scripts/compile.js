#!/usr/bin/env node
// Compiles src/*.sol with the solc pinned in package.json and writes one artifact per contract
// to out/<Name>.json (abi, bytecode, deployedBytecode, methodIdentifiers, compiler).
//
//   node scripts/compile.js            writes out/
//   node scripts/compile.js --out DIR  writes DIR instead (the Rust test compares it with out/)
//   node scripts/compile.js --check    exits 1 if out/ differs from a fresh compilation
//
// The settings are fixed so that the output is reproducible byte for byte: no metadata hash or
// CBOR trailer in the bytecode (it would embed source file hashes), a fixed EVM version, and
// sources and artifacts in sorted order.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const root = path.resolve(__dirname, '..');
const pinned = require(path.join(root, 'package.json')).devDependencies.solc;

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'prague',
  metadata: { bytecodeHash: 'none', appendCBOR: false },
  outputSelection: {
    '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'evm.methodIdentifiers'] },
  },
};

function fail(message) {
  process.stderr.write(`compile: ${message}\n`);
  process.exit(2);
}

function compile() {
  // A stale node_modules would silently compile with another solc.
  const version = solc.version();
  if (!version.startsWith(`${pinned}+`)) {
    fail(`solc ${version} is installed but package.json pins ${pinned}: run npm ci in contracts/`);
  }
  const srcDir = path.join(root, 'src');
  const sources = {};
  for (const file of fs.readdirSync(srcDir).filter((f) => f.endsWith('.sol')).sort()) {
    sources[file] = { content: fs.readFileSync(path.join(srcDir, file), 'utf8') };
  }
  const findImports = (name) => {
    const file = path.join(srcDir, name);
    return fs.existsSync(file) ? { contents: fs.readFileSync(file, 'utf8') } : { error: `${name} not found` };
  };
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const diagnostics = output.errors || [];
  for (const diagnostic of diagnostics) process.stderr.write(diagnostic.formattedMessage);
  // Warnings fail the build too: the contracts are small enough to keep clean.
  if (diagnostics.length > 0) fail(`${diagnostics.length} diagnostics`);

  const artifacts = {};
  for (const file of Object.keys(output.contracts).sort()) {
    for (const name of Object.keys(output.contracts[file]).sort()) {
      const contract = output.contracts[file][name];
      const artifact = {
        contractName: name,
        sourceName: `src/${file}`,
        compiler: `solc ${version}`,
        settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion, metadata: SETTINGS.metadata },
        abi: contract.abi,
        bytecode: `0x${contract.evm.bytecode.object}`,
        deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
        methodIdentifiers: contract.evm.methodIdentifiers,
      };
      artifacts[`${name}.json`] = `${JSON.stringify(artifact, null, 2)}\n`;
    }
  }
  return artifacts;
}

function write(dir, artifacts) {
  fs.mkdirSync(dir, { recursive: true });
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    if (!(file in artifacts)) fs.unlinkSync(path.join(dir, file));
  }
  for (const [file, text] of Object.entries(artifacts)) fs.writeFileSync(path.join(dir, file), text);
}

function check(dir, artifacts) {
  const existing = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];
  const expected = Object.keys(artifacts).sort();
  const problems = [];
  for (const file of expected) {
    if (!existing.includes(file)) problems.push(`${file} is missing`);
    else if (fs.readFileSync(path.join(dir, file), 'utf8') !== artifacts[file]) problems.push(`${file} differs`);
  }
  for (const file of existing) if (!expected.includes(file)) problems.push(`${file} is not produced any more`);
  if (problems.length > 0) {
    process.stderr.write(`compile: out/ is stale (run npm run build in contracts/):\n  ${problems.join('\n  ')}\n`);
    process.exit(1);
  }
}

const args = process.argv.slice(2);
const artifacts = compile();
if (args[0] === '--check' && args.length === 1) {
  check(path.join(root, 'out'), artifacts);
} else if (args[0] === '--out' && args.length === 2) {
  write(path.resolve(args[1]), artifacts);
} else if (args.length === 0) {
  write(path.join(root, 'out'), artifacts);
} else {
  fail('usage: compile.js [--check | --out DIR]');
}
