import type { Command } from 'commander';
import { register as attachments } from './attachments.js';
import { register as audit } from './audit.js';
import { register as build } from './build.js';
import { register as check } from './check.js';
import { register as copy } from './copy.js';
import { register as daemon } from './daemon.js';
import { register as deploy, registerShip as ship } from './deploy.js';
import { register as fetch } from './fetch.js';
import { register as init } from './init.js';
import { register as keygen } from './keygen.js';
import { register as lineage } from './lineage.js';
import { register as lock } from './lock.js';
import { register as log } from './log.js';
import { register as ls } from './ls.js';
import { register as pin } from './pin.js';
import { register as pull } from './pull.js';
import { register as push } from './push.js';
import { register as repro } from './repro.js';
import { register as sbom } from './sbom.js';
import { register as sign } from './sign.js';
import { register as signBlob } from './sign-blob.js';
import { register as store } from './store.js';
import { register as ui } from './ui.js';
import { register as verify } from './verify.js';
import { register as why } from './why.js';

/**
 * The CLI's command set. Each command file exports `register(cli)`, declares
 * only its flags there, and imports its use-case from pipeline/ when it runs.
 * Add one import and one list entry per command, keeping both lists sorted.
 */
export const commandModules: ((cli: Command) => void)[] = [
  // commands: one entry per line
  attachments,
  audit,
  build,
  check,
  copy,
  daemon,
  deploy,
  fetch,
  init,
  keygen,
  lineage,
  lock,
  log,
  ls,
  pin,
  pull,
  push,
  repro,
  sbom,
  ship,
  sign,
  signBlob,
  store,
  ui,
  verify,
  why,
];
