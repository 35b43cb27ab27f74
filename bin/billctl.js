#!/usr/bin/env node
// The executable: everything lives in the built entry point.
import { run } from '../dist/main.js';

run();
