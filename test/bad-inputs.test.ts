/** The bad-input corpus, part "configs": run configs, source configs, settings and CLI arguments (test/helpers/bad-input-suite.ts). */
import { badInputSuite } from './helpers/bad-input-suite';

badInputSuite('configs');
