/** The bad-input corpus, part "imports": exhibit and BIT summary-statistics specs, source configs, the coding section and its code schemes (test/helpers/bad-input-suite.ts). */
import { badInputSuite } from './helpers/bad-input-suite';

badInputSuite('imports');
