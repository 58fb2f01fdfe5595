// Hosts the official PLC directory (in-memory database) and the official PDS in one node process,
// on loopback only. Configuration arrives in environment variables set by stack.py; once both answer,
// one line `ATDATA_DEVSTACK_READY {"pds": ..., "plc": ...}` is printed on stdout.
'use strict';

const net = require('net');
const path = require('path');
const { createRequire } = require('module');

const env = process.env;
// The npm packages live in the cache folder, not next to this file.
const requireFromCache = createRequire(path.join(env.ATDATA_DEVSTACK_MODULES, 'package.json'));
const plcLib = requireFromCache('@did-plc/server');
const pdsLib = requireFromCache('@atproto/pds');

// Both servers call listen(port) with no host, which binds every interface; keep them on loopback.
const originalListen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1');
  }
  return originalListen.apply(this, args);
};

async function main() {
  const plcPort = Number(env.ATDATA_PLC_PORT);
  const pdsPort = Number(env.ATDATA_PDS_PORT);
  const plcUrl = `http://localhost:${plcPort}`;
  const pdsUrl = `http://localhost:${pdsPort}`;

  const plc = plcLib.PlcServer.create({ db: plcLib.Database.mock(), port: plcPort });
  await plc.start();

  const pdsEnv = {
    port: pdsPort,
    hostname: 'localhost',
    devMode: true,
    dataDirectory: env.ATDATA_PDS_DATA_DIR,
    blobstoreDiskLocation: path.join(env.ATDATA_PDS_DATA_DIR, 'blobs'),
    jwtSecret: env.ATDATA_PDS_JWT_SECRET,
    adminPassword: env.ATDATA_PDS_ADMIN_PASSWORD,
    plcRotationKeyK256PrivateKeyHex: env.ATDATA_PDS_PLC_ROTATION_KEY,
    didPlcUrl: plcUrl,
    inviteRequired: false,
    serviceHandleDomains: ['.test'],
    crawlers: [],
    rateLimitsEnabled: false,
  };
  const startPds = async () => {
    const server = await pdsLib.PDS.create(pdsLib.envToCfg(pdsEnv), pdsLib.envToSecrets(pdsEnv));
    await server.start();
    return server;
  };
  let pds = await startPds();

  // SIGUSR1 takes the PDS down and SIGUSR2 brings it back on the same port and data, while the PLC
  // directory (in memory) keeps running: an outage of the author's PDS, as tests need to simulate.
  let busy = Promise.resolve();
  process.on('SIGUSR1', () => {
    busy = busy.then(async () => {
      if (pds) {
        await pds.destroy();
        pds = null;
      }
    });
  });
  process.on('SIGUSR2', () => {
    busy = busy.then(async () => {
      if (!pds) pds = await startPds();
    });
  });

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    try {
      await busy;
      if (pds) await pds.destroy();
      await plc.destroy();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  process.stdout.write(`ATDATA_DEVSTACK_READY ${JSON.stringify({ pds: pdsUrl, plc: plcUrl })}\n`);
}

main().catch((err) => {
  process.stderr.write(`atdata dev stack failed to start: ${(err && err.stack) || err}\n`);
  process.exit(1);
});
