export { ExpressionSyntaxError } from './lexer';
export { compileExpression, ExpressionRuntimeError, type CompiledExpression, type Environment, type ExprFunction } from './evaluate';
